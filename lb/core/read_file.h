#pragma once
// A whole file read into a string (certificates, keys, CAs, CRLs: small files
// read on the control thread).

#include <string>

namespace lb {

// Thread: any (blocking). False with `why` ("cannot read 'PATH': reason")
// when the file cannot be opened.
bool read_file(const std::string& path, std::string& out, std::string& why);

}  // namespace lb
