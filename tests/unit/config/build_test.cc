#include <gtest/gtest.h>
TEST(build, links) { SUCCEED(); }
