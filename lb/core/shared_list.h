#pragma once
// A list of separately owned elements read as a list of T: a snapshot keeps
// the elements that did not change from its predecessor by pointer, and
// rebuilds only the others (a pool whose endpoints moved, not the 999 beside it).

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/iterator/indirect_iterator.hpp>

namespace lb {

template <class T>
class shared_list {
 public:
  T& operator[](std::size_t i) const { return *items_[i]; }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return boost::make_indirect_iterator(items_.begin()); }
  auto end() const { return boost::make_indirect_iterator(items_.end()); }

  // Element i as shared (to share it with the next list, or to tell whether
  // two lists hold the same one).
  const std::shared_ptr<T>& share(std::size_t i) const { return items_[i]; }
  void push_back(std::shared_ptr<T> item) { items_.push_back(std::move(item)); }
  void reserve(std::size_t n) { items_.reserve(n); }

 private:
  std::vector<std::shared_ptr<T>> items_;
};

}  // namespace lb
