#pragma once
// Frees what a string holds. `s = std::string()` does not: libstdc++ copies a
// short (SSO) source into the buffer the string already has and keeps it
// (measured: an idle HTTP/2 connection kept its 32 KiB write buffer so).

#include <string>

namespace lb {

inline void release_buffer(std::string& s) noexcept { std::string().swap(s); }

}  // namespace lb
