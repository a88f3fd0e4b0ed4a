// Byte-pair encoding: start from one symbol per character and repeatedly apply the
// lowest-ranked merge (leftmost on ties), using a heap over a linked list of symbols.
#include <mutex>
#include <queue>

#include "coreml/error.h"
#include "llm/tokenizer/components.h"
#include "llm/tokenizer/utf8.h"
#include "llm/tokenizer/vocab.h"

namespace coreml::llm::tok {

std::string byte_fallback_token(unsigned char byte) {
  static const char* hex = "0123456789ABCDEF";
  std::string token = "<0x";
  token.push_back(hex[byte >> 4]);
  token.push_back(hex[byte & 15]);
  token.push_back('>');
  return token;
}

namespace {

struct Merge {
  int32_t rank;
  int32_t new_id;
};

// Open-addressing map from a (left id, right id) pair to its merge: the hot lookup of BPE.
class MergeTable {
 public:
  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity <<= 1;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, Merge{0, 0});
    mask_ = capacity - 1;
  }
  // Keeps the first (lowest-ranked) merge for a pair.
  void insert(int32_t left, int32_t right, Merge merge) {
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) return;
      slot = (slot + 1) & mask_;
    }
    keys_[slot] = key;
    values_[slot] = merge;
  }
  const Merge* find(int32_t left, int32_t right) const {
    if (keys_.empty()) return nullptr;
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) return &values_[slot];
      slot = (slot + 1) & mask_;
    }
    return nullptr;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<size_t>(key);
  }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

class Bpe : public Model {
 public:
  explicit Bpe(const Node& node) {
    if (node.has("dropout")) {
      double dropout = node.child("dropout").number();
      if (dropout != 0.0) node.child("dropout").fail("BPE dropout is not supported");
    }
    vocab_ = read_vocab_object(node.child("vocab"));
    unk_token_ = node.optional_string("unk_token");
    prefix_ = node.string_or("continuing_subword_prefix", "");
    suffix_ = node.string_or("end_of_word_suffix", "");
    fuse_unk_ = node.bool_or("fuse_unk", false);
    byte_fallback_ = node.bool_or("byte_fallback", false);
    ignore_merges_ = node.bool_or("ignore_merges", false);
    read_merges(node.child("merges"));
    byte_ids_.fill(-1);
    for (int b = 0; b < 256; ++b) {
      if (auto id = vocab_.find(byte_fallback_token(static_cast<unsigned char>(b))))
        byte_ids_[b] = *id;
    }
  }

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    if (word.empty()) return;
    if (ignore_merges_) {
      if (auto id = vocab_.find(word)) {
        ids.push_back(*id);
        return;
      }
    }
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      auto it = cache_.find(word);
      if (it != cache_.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    size_t first = ids.size();
    merge_word(word, ids);
    if (cacheable) {
      std::lock_guard lock(cache_mutex_);
      if (cache_.size() < kCacheCapacity) {
        cache_.emplace(std::string(word), std::vector<int32_t>(ids.begin() + first, ids.end()));
      }
    }
  }

  std::optional<int32_t> token_to_id(std::string_view token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }

 private:
  // Words longer than this are rare and would only churn the cache.
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 10000;

  void read_merges(const Node& merges) {
    const Json& list = merges.array();
    merge_table_.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      Node entry = merges.at(i);
      std::string left, right;
      if (entry.value.is_string()) {
        std::string text = entry.string();
        size_t space = text.find(' ', 1);
        if (space == std::string::npos) entry.fail("expected \"left right\"");
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else {
        if (entry.array().size() != 2) entry.fail("expected a pair [left, right]");
        left = entry.at(0).string();
        right = entry.at(1).string();
      }
      auto left_id = vocab_.find(left), right_id = vocab_.find(right);
      auto merged_id = vocab_.find(left + right);
      if (!left_id || !right_id) entry.fail("merge uses a token missing from the vocab");
      if (!merged_id) entry.fail("merge result '" + left + right + "' is missing from the vocab");
      merge_table_.insert(*left_id, *right_id, Merge{static_cast<int32_t>(i), *merged_id});
    }
  }

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t length;  // bytes; 0 once merged away
  };

  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
    std::string scratch;
    int32_t unk_id_pending = -1;  // pending unknown run: id and bytes
    uint32_t unk_length = 0;
    auto add = [&](int32_t id, uint32_t length) {
      int32_t index = static_cast<int32_t>(symbols.size());
      symbols.push_back(Symbol{id, index - 1, -1, length});
    };
    size_t pos = 0;
    while (pos < word.size()) {
      size_t start = pos;
      size_t length = utf8_length(static_cast<unsigned char>(word[pos]));
      pos = std::min(word.size(), pos + length);
      std::string_view piece = word.substr(start, pos - start);
      bool decorated = (start > 0 && !prefix_.empty()) || (pos == word.size() && !suffix_.empty());
      if (decorated) {
        scratch.clear();
        if (start > 0) scratch += prefix_;
        scratch += piece;
        if (pos == word.size()) scratch += suffix_;
        piece = scratch;
      }
      uint32_t byte_length = static_cast<uint32_t>(pos - start);
      if (auto id = vocab_.find(piece)) {
        if (unk_id_pending >= 0) {
          add(unk_id_pending, unk_length);
          unk_id_pending = -1;
        }
        add(*id, byte_length);
        continue;
      }
      if (byte_fallback_) {
        bool all_known = true;
        for (unsigned char b : piece) all_known = all_known && byte_ids_[b] >= 0;
        if (all_known) {
          for (unsigned char b : piece) add(byte_ids_[b], 1);
          continue;
        }
      }
      if (unk_token_) {
        auto unk_id = vocab_.find(*unk_token_);
        if (!unk_id)
          fail(ErrorCode::kParse, "BPE unk_token '", *unk_token_, "' is not in the vocab");
        if (unk_id_pending >= 0 && fuse_unk_) {
          unk_length += byte_length;
        } else {
          if (unk_id_pending >= 0) add(unk_id_pending, unk_length);
          unk_id_pending = *unk_id;
          unk_length = byte_length;
        }
      }
    }
    if (unk_id_pending >= 0) add(unk_id_pending, unk_length);
    if (!symbols.empty()) symbols.back().next = -1;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) symbols[i].next = static_cast<int32_t>(i + 1);
  }

  void merge_word(std::string_view word, std::vector<int32_t>& ids) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    initial_symbols(word, symbols);

    struct Candidate {
      int32_t rank;
      int32_t position;
      int32_t new_id;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : position > o.position;
      }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    auto consider = [&](int32_t left) {
      int32_t right = symbols[left].next;
      if (right < 0) return;
      if (const Merge* m = merge_table_.find(symbols[left].id, symbols[right].id)) {
        queue.push(Candidate{m->rank, left, m->new_id});
      }
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) consider(i);

    while (!queue.empty()) {
      Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[top.position];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      const Merge* current = merge_table_.find(left.id, right.id);
      if (!current || current->new_id != top.new_id) continue;  // stale entry
      left.id = top.new_id;
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[left.next].prev = top.position;
      if (left.prev >= 0) consider(left.prev);
      consider(top.position);
    }
    for (const Symbol& s : symbols) {
      if (s.length > 0) ids.push_back(s.id);
    }
  }

  Vocab vocab_;
  MergeTable merge_table_;
  std::optional<std::string> unk_token_;
  std::string prefix_, suffix_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<int32_t, 256> byte_ids_{};

  // Cache of recent words; bounded, shared by all threads using this tokenizer (mutex-guarded).
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace

std::unique_ptr<Model> make_bpe(const Node& node) { return std::make_unique<Bpe>(node); }

}  // namespace coreml::llm::tok
