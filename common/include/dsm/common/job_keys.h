// The job key block: how the CURVE key pair of a multi-host job reaches each
// of its daemons. This header is the one definition of the block; the
// launcher (dsm-run) formats it with Format() and writes it into a pipe whose
// read end the daemon gets as a file descriptor (dsm-hostd --keys-fd N); the
// daemon reads it with Read(). A daemon started by hand reads the same block
// from whatever descriptor it is given (`--keys-fd 0 < FILE`, FILE readable
// by its owner only). The secret never appears on a command line, in the
// environment or in a file that dsm-run writes.
//
// The block is ASCII text, exactly two lines, each ending in '\n':
//
//   curve-public <public key>
//   curve-secret <secret key>
//
// Each key is a 32-byte Curve25519 key in Z85 (ZeroMQ's encoding, RFC 32):
// exactly 40 characters of the Z85 alphabet. Nothing else may be in the
// block, '\r' and trailing spaces included. Whether the two keys belong
// together is for the daemon to check (it needs libzmq to do so; this
// header does not link it).
//
// Parse() and Read() never put the secret key into an error message.
// Thread-safe; allocates.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dsm/common/status.h"

namespace dsm::jobkeys {

// A key in Z85.
inline constexpr size_t kZ85KeyLength = 40;
// Read() refuses a block longer than this.
inline constexpr size_t kMaxBlockBytes = 1024;

// The job's key pair, Z85 text. The destructor overwrites the secret.
struct Keys {
  std::string public_z85;
  std::string secret_z85;

  Keys() = default;
  Keys(std::string pub, std::string sec) : public_z85(std::move(pub)), secret_z85(std::move(sec)) {}
  Keys(const Keys&) = default;
  Keys& operator=(const Keys&) = default;
  Keys(Keys&&) = default;
  Keys& operator=(Keys&&) = default;
  ~Keys();
};

// True for a key of exactly kZ85KeyLength characters of the Z85 alphabet.
bool ValidZ85Key(std::string_view key);

// The block; an error (EINVAL) if a key is not ValidZ85Key.
Result<std::string> Format(const Keys& keys);

// The block, exactly as above; an error (EPROTO) with a short reason otherwise.
Result<Keys> Parse(std::string_view block);

// Reads fd to its end (retrying EINTR) and parses what it read: an error
// (errno of read, or EPROTO) if the read fails, the block is longer than
// kMaxBlockBytes or does not parse. Does not close fd. Blocks until the
// writer closes its end.
Result<Keys> Read(int fd);

// Overwrites a string's characters (for buffers that held a secret).
void Wipe(std::string& s);

}  // namespace dsm::jobkeys
