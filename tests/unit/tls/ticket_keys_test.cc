#include "lb/tls/ticket_keys.h"

#include <gtest/gtest.h>

#include <string>

namespace lb::tls {
namespace {

TEST(ticket_keys, key_file_holds_whole_80_byte_keys_the_first_encrypts) {
  std::string why;
  std::string bytes(160, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i);
  const auto set = parse_key_file(bytes, why);
  ASSERT_TRUE(set) << why;
  ASSERT_EQ(set->keys.size(), 2u);
  EXPECT_EQ(set->keys[0].name[0], 0);    // name: bytes 0-15
  EXPECT_EQ(set->keys[0].hmac[0], 16);   // HMAC key: 16-47
  EXPECT_EQ(set->keys[0].aes[0], 48);    // AES key: 48-79
  EXPECT_EQ(set->keys[1].name[0], 80);
  EXPECT_FALSE(parse_key_file(std::string(79, 'x'), why));
  EXPECT_NE(why.find("80-byte"), std::string::npos);
  EXPECT_FALSE(parse_key_file("", why));
}

TEST(ticket_keys, rotation_keeps_the_previous_key_for_decryption) {
  ticket_keys keys;
  const auto first = keys.current()->keys.front().name;
  keys.rotate();
  const auto set = keys.current();
  ASSERT_EQ(set->keys.size(), 2u);
  EXPECT_NE(set->keys[0].name, first);
  EXPECT_EQ(set->keys[1].name, first);
  keys.rotate();
  EXPECT_EQ(keys.current()->keys.size(), 2u);  // older keys are dropped
  EXPECT_NE(keys.current()->keys[1].name, first);
}

}  // namespace
}  // namespace lb::tls
