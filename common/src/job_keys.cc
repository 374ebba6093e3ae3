#include "dsm/common/job_keys.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dsm::jobkeys {
namespace {

// RFC 32's alphabet, in the order of the digit values 0..84.
constexpr std::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
static_assert(kZ85Alphabet.size() == 85);

constexpr std::string_view kPublicWord = "curve-public ";
constexpr std::string_view kSecretWord = "curve-secret ";

Status Bad(const std::string& reason) { return Status(EPROTO, "the key block " + reason); }

// One "<word><key>\n" line at the front of *rest, consumed. The reason names
// the line, never its content.
Result<std::string> TakeLine(std::string_view* rest, std::string_view word, const char* which) {
  size_t eol = rest->find('\n');
  if (eol == std::string_view::npos) return Bad(std::string("lacks a complete ") + which + " line");
  std::string_view line = rest->substr(0, eol);
  *rest = rest->substr(eol + 1);
  if (line.substr(0, word.size()) != word) {
    return Bad(std::string("does not have its ") + which + " line where expected ('" +
               std::string(word.substr(0, word.size() - 1)) + " <key>')");
  }
  std::string_view key = line.substr(word.size());
  if (!ValidZ85Key(key)) {
    return Bad(std::string("has a ") + which + " key that is not " + std::to_string(kZ85KeyLength) +
               " characters of Z85");
  }
  return std::string(key);
}

}  // namespace

Keys::~Keys() { Wipe(secret_z85); }

void Wipe(std::string& s) {
  if (!s.empty()) explicit_bzero(s.data(), s.size());
  s.clear();
}

bool ValidZ85Key(std::string_view key) {
  if (key.size() != kZ85KeyLength) return false;
  for (char c : key) {
    if (kZ85Alphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

Result<std::string> Format(const Keys& keys) {
  if (!ValidZ85Key(keys.public_z85) || !ValidZ85Key(keys.secret_z85)) {
    return Status(EINVAL, "a CURVE key is not 40 characters of Z85");
  }
  std::string block;
  block.reserve(2 * (kPublicWord.size() + kZ85KeyLength + 1));
  block.append(kPublicWord).append(keys.public_z85).append("\n");
  block.append(kSecretWord).append(keys.secret_z85).append("\n");
  return block;
}

Result<Keys> Parse(std::string_view block) {
  std::string_view rest = block;
  auto pub = TakeLine(&rest, kPublicWord, "public");
  if (!pub.ok()) return pub.status();
  auto sec = TakeLine(&rest, kSecretWord, "secret");
  if (!sec.ok()) return sec.status();
  if (!rest.empty()) return Bad("has more than its two lines");
  return Keys(std::move(pub).value(), std::move(sec).value());
}

Result<Keys> Read(int fd) {
  std::string block(kMaxBlockBytes + 1, '\0');
  size_t got = 0;
  Status error = Status::Ok();
  while (got < block.size()) {
    ssize_t n = ::read(fd, block.data() + got, block.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = Status::FromErrno("cannot read the key block");
      break;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (!error.ok()) {
    Wipe(block);
    return error;
  }
  Result<Keys> keys = got > kMaxBlockBytes
                          ? Result<Keys>(Bad("is longer than " + std::to_string(kMaxBlockBytes) + " bytes"))
                          : Parse(std::string_view(block.data(), got));
  Wipe(block);
  return keys;
}

}  // namespace dsm::jobkeys
