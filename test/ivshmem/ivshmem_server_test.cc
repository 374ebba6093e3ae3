// The ivshmem server (hostd) and client (common) against each other, against
// a raw client that checks every byte and descriptor of the protocol, and the
// client against a scripted fake server.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "dsm/common/ivshmem.h"
#include "dsm/hostd/ivshmem_server.h"
#include "ivshmem_test_util.h"

namespace dsm {
namespace {

using hostd::IvshmemServer;
using ivstest::Clock;
using ivstest::RawMsg;
using ivstest::RecvRaw;

constexpr size_t kShmSize = 1 << 20;

// Receives one raw message into `m` or fails the test.
#define ASSERT_RECV(sock, m)                                \
  do {                                                      \
    std::string err_ = RecvRaw((sock), &(m));               \
    ASSERT_EQ(err_, "") << "receiving on socket " << (sock); \
  } while (0)

// A client connected over a plain socket, with what its handshake delivered.
struct RawClient {
  UniqueFd sock;
  int64_t id = -1;
  UniqueFd shm;
  std::map<int64_t, UniqueFd> peers;  // vector 0 of every other peer
  UniqueFd own;                       // own vector 0
};

class IvshmemServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memfd_ = ivstest::MakeMemfd("ivshmem-test", kShmSize);
    ASSERT_TRUE(memfd_.valid());
    ASSERT_TRUE(tmp_.ok());
  }

  std::unique_ptr<IvshmemServer> MakeServer(const std::string& path, int64_t max_peer_id = 16) {
    auto s = IvshmemServer::Create(path, memfd_.get(), max_peer_id);
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return nullptr;
    auto server = std::move(s.value());
    server->set_on_leave([this](int64_t id) { left_.push_back(id); });
    return server;
  }

  static UniqueFd RawConnect(const std::string& path) {
    auto c = ivshmem::Connect(path);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(c.value()) : UniqueFd();
  }

  // Connects, lets the server accept, and checks the whole handshake message
  // by message: version, id, shm, then `expected_peers` (ascending, 0 first),
  // then the own vector. Nothing else may follow.
  void Join(IvshmemServer& server, const std::string& path, int64_t expected_id,
            const std::vector<int64_t>& expected_peers, RawClient* c, bool expect_quiet = true) {
    c->sock = RawConnect(path);
    ASSERT_TRUE(c->sock.valid());
    auto id = server.Accept();
    ASSERT_TRUE(id.ok()) << id.status().message();
    ASSERT_EQ(id.value(), expected_id);
    ASSERT_TRUE(server.HasPeer(expected_id));

    RawMsg m;
    ASSERT_RECV(c->sock.get(), m);
    EXPECT_EQ(m.value, 0) << "protocol version";
    EXPECT_TRUE(m.fds.empty()) << "version must carry no fd";

    ASSERT_RECV(c->sock.get(), m);
    EXPECT_EQ(m.value, expected_id) << "own id";
    EXPECT_TRUE(m.fds.empty()) << "own id must carry no fd";
    c->id = m.value;

    ASSERT_RECV(c->sock.get(), m);
    EXPECT_EQ(m.value, -1) << "shared memory message";
    ASSERT_EQ(m.fds.size(), 1u) << "shm message must carry exactly one fd";
    EXPECT_TRUE(ivstest::SameFile(m.fds[0].get(), memfd_.get())) << "not the server's memfd";
    EXPECT_EQ(ivstest::FdKind(m.fds[0].get()).rfind("/memfd:ivshmem-test", 0), 0u);
    c->shm = std::move(m.fds[0]);

    for (int64_t peer : expected_peers) {
      ASSERT_RECV(c->sock.get(), m);
      EXPECT_EQ(m.value, peer) << "existing peers are announced in id order, server (0) first";
      ASSERT_EQ(m.fds.size(), 1u) << "peer " << peer << " needs exactly one eventfd per vector";
      EXPECT_EQ(ivstest::FdKind(m.fds[0].get()), "anon_inode:[eventfd]");
      c->peers[peer] = std::move(m.fds[0]);
    }

    ASSERT_RECV(c->sock.get(), m);
    EXPECT_EQ(m.value, expected_id) << "own vector comes last";
    ASSERT_EQ(m.fds.size(), 1u);
    EXPECT_EQ(ivstest::FdKind(m.fds[0].get()), "anon_inode:[eventfd]");
    // The peers' eventfds are shared file descriptions: they must be blocking
    // so that a client doing blocking reads is not surprised.
    EXPECT_EQ(::fcntl(m.fds[0].get(), F_GETFL) & O_NONBLOCK, 0);
    c->own = std::move(m.fds[0]);

    if (expect_quiet) EXPECT_TRUE(ivstest::NothingPending(c->sock.get())) << "unexpected extra handshake message";
  }

  // Closes a client and lets the server notice, as its event loop would.
  static void Leave(IvshmemServer& server, RawClient& c) {
    c.sock.reset();
    EXPECT_TRUE(server.HandlePeerEvent(c.id));
    EXPECT_FALSE(server.HasPeer(c.id));
  }

  // Expects exactly one leave notice (id, no fd) on c.
  static void ExpectLeaveNotice(RawClient& c, int64_t id) {
    RawMsg m;
    ASSERT_RECV(c.sock.get(), m);
    EXPECT_EQ(m.value, id);
    EXPECT_TRUE(m.fds.empty()) << "a leave notice carries no fd";
    EXPECT_TRUE(ivstest::NothingPending(c.sock.get()));
  }

  // Expects exactly one join notice (id + one eventfd) on c and keeps the fd.
  static void ExpectJoinNotice(RawClient& c, int64_t id) {
    RawMsg m;
    ASSERT_RECV(c.sock.get(), m);
    EXPECT_EQ(m.value, id);
    ASSERT_EQ(m.fds.size(), 1u) << "a join notice carries the new peer's eventfd";
    EXPECT_EQ(ivstest::FdKind(m.fds[0].get()), "anon_inode:[eventfd]");
    c.peers[id] = std::move(m.fds[0]);
    EXPECT_TRUE(ivstest::NothingPending(c.sock.get()));
  }

  UniqueFd memfd_;
  ivstest::TempDir tmp_;
  std::vector<int64_t> left_;
};

TEST_F(IvshmemServerTest, HandshakeSendsEveryMessageInOrder) {
  const std::string path = ivstest::UniqueAbstractPath("hs");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));

  // The shm fd is the very same object: a write through it shows in ours.
  void* p = ::mmap(nullptr, kShmSize, PROT_READ | PROT_WRITE, MAP_SHARED, a.shm.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  void* q = ::mmap(nullptr, kShmSize, PROT_READ, MAP_SHARED, memfd_.get(), 0);
  ASSERT_NE(q, MAP_FAILED);
  static_cast<volatile uint64_t*>(p)[7] = 0xfeedfacecafebeefULL;
  EXPECT_EQ(static_cast<volatile uint64_t*>(q)[7], 0xfeedfacecafebeefULL);
  ::munmap(p, kShmSize);
  ::munmap(q, kShmSize);
}

TEST_F(IvshmemServerTest, ClientRingsServerThroughPeerZero) {
  const std::string path = ivstest::UniqueAbstractPath("ring0");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  EXPECT_FALSE(ivstest::Readable(server->own_vector(0)));
  ASSERT_TRUE(ivshmem::Ring(a.peers.at(0).get()).ok());
  EXPECT_EQ(ivstest::WaitEventfd(server->own_vector(0)), 1u);
}

TEST_F(IvshmemServerTest, ServerRingReachesClientVector) {
  const std::string path = ivstest::UniqueAbstractPath("ring");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a, b;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(a, 2));

  ASSERT_TRUE(server->Ring(2, 0).ok());
  EXPECT_EQ(ivstest::WaitEventfd(b.own.get()), 1u);
  EXPECT_FALSE(ivstest::Readable(a.own.get())) << "ringing peer 2 must not ring peer 1";
  ASSERT_TRUE(server->Ring(1, 0).ok());
  ASSERT_TRUE(server->Ring(1, 0).ok());
  EXPECT_EQ(ivstest::WaitEventfd(a.own.get()), 2u);

  EXPECT_EQ(server->Ring(9, 0).code(), ENOENT);
  EXPECT_EQ(server->Ring(1, ivshmem::kVectorsPerPeer).code(), EINVAL);
  EXPECT_EQ(server->Ring(1, -1).code(), EINVAL);
}

TEST_F(IvshmemServerTest, JoinIsAnnouncedWithAWorkingEventfd) {
  const std::string path = ivstest::UniqueAbstractPath("join");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a, b;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  EXPECT_TRUE(ivstest::NothingPending(a.sock.get()));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(a, 2));

  // a rings b with the fd from the notice; b sees it on its own vector.
  EXPECT_FALSE(ivstest::Readable(b.own.get()));
  ASSERT_TRUE(ivshmem::Ring(a.peers.at(2).get()).ok());
  EXPECT_EQ(ivstest::WaitEventfd(b.own.get()), 1u);
  // And b rings a with the fd from its handshake.
  ASSERT_TRUE(ivshmem::Ring(b.peers.at(1).get()).ok());
  EXPECT_EQ(ivstest::WaitEventfd(a.own.get()), 1u);
  EXPECT_FALSE(ivstest::Readable(server->own_vector(0)));
}

TEST_F(IvshmemServerTest, LeaveIsAnnouncedWithoutFd) {
  const std::string path = ivstest::UniqueAbstractPath("leave");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a, b, c;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(a, 2));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 3, {0, 1, 2}, &c));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(a, 3));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(b, 3));

  // A quiet peer's event is a no-op.
  EXPECT_FALSE(server->HandlePeerEvent(1));
  EXPECT_FALSE(server->HandlePeerEvent(42));

  Leave(*server, b);
  EXPECT_EQ(left_, std::vector<int64_t>{2});
  ASSERT_NO_FATAL_FAILURE(ExpectLeaveNotice(a, 2));
  ASSERT_NO_FATAL_FAILURE(ExpectLeaveNotice(c, 2));

  server->RemovePeer(3);
  EXPECT_EQ(left_, (std::vector<int64_t>{2, 3}));
  ASSERT_NO_FATAL_FAILURE(ExpectLeaveNotice(a, 3));
  RawMsg eof;
  EXPECT_EQ(RecvRaw(c.sock.get(), &eof), "eof") << "a removed peer's socket is closed";
  server->RemovePeer(3);  // unknown: no-op
  EXPECT_EQ(server->peer_count(), 1u);
}

TEST_F(IvshmemServerTest, DataSentByAClientIsDrainedAndItsFdsClosed) {
  const std::string path = ivstest::UniqueAbstractPath("drain");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  const int before = ivstest::CountOpenFds();
  {
    UniqueFd junk(::eventfd(0, EFD_CLOEXEC));
    ASSERT_TRUE(ivshmem::SendMessage(a.sock.get(), 1234, junk.get()).ok());
  }
  EXPECT_FALSE(server->HandlePeerEvent(1));
  EXPECT_TRUE(server->HasPeer(1));
  EXPECT_EQ(ivstest::CountOpenFds(), before) << "the fd a client sent must be closed by the server";
}

TEST_F(IvshmemServerTest, IdsAreReusedLowestFirst) {
  const std::string path = ivstest::UniqueAbstractPath("ids");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient c1, c2, c3;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &c1));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &c2));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 3, {0, 1, 2}, &c3));
  Leave(*server, c2);
  RawClient d;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1, 3}, &d));
  Leave(*server, c3);
  Leave(*server, c1);
  RawClient e, f;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0, 2}, &e));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 3, {0, 1, 2}, &f));
  EXPECT_EQ(left_, (std::vector<int64_t>{2, 3, 1}));
}

TEST_F(IvshmemServerTest, ExhaustedIdsRejectTheClientCleanly) {
  const std::string path = ivstest::UniqueAbstractPath("full");
  auto server = MakeServer(path, /*max_peer_id=*/2);
  ASSERT_TRUE(server);
  RawClient c1, c2;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &c1));
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &c2));
  ASSERT_NO_FATAL_FAILURE(ExpectJoinNotice(c1, 2));

  UniqueFd extra = RawConnect(path);
  ASSERT_TRUE(extra.valid());
  auto id = server->Accept();
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), EUSERS);
  EXPECT_NE(id.status().message().find("no free peer id"), std::string::npos) << id.status().message();
  RawMsg m;
  EXPECT_EQ(RecvRaw(extra.get(), &m), "eof") << "the rejected client gets no message, just EOF";
  EXPECT_EQ(server->peer_count(), 2u);
  EXPECT_TRUE(ivstest::NothingPending(c1.sock.get()));
  EXPECT_TRUE(ivstest::NothingPending(c2.sock.get()));

  // The server carries on: a freed id is handed out again.
  Leave(*server, c1);
  ASSERT_NO_FATAL_FAILURE(ExpectLeaveNotice(c2, 1));
  RawClient c3;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0, 2}, &c3));
}

TEST_F(IvshmemServerTest, AcceptWithNothingPendingFailsWithoutBlocking) {
  auto server = MakeServer(ivstest::UniqueAbstractPath("nopending"));
  ASSERT_TRUE(server);
  auto id = server->Accept();
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), EAGAIN);
}

TEST_F(IvshmemServerTest, FailedAnnouncementRemovesThatPeer) {
  const std::string path = ivstest::UniqueAbstractPath("sendfail");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a, b;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  a.sock.reset();  // gone, but the server has not polled yet
  // b's handshake still lists peer 1; telling 1 about b then fails (EPIPE,
  // no SIGPIPE), so 1 is removed and b is told it left.
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b, /*expect_quiet=*/false));
  EXPECT_FALSE(server->HasPeer(1));
  EXPECT_EQ(left_, std::vector<int64_t>{1});
  ASSERT_NO_FATAL_FAILURE(ExpectLeaveNotice(b, 1));
}

TEST_F(IvshmemServerTest, ClientGoneBeforeHandshakeIsNotAdded) {
  const std::string path = ivstest::UniqueAbstractPath("gone");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  {
    UniqueFd quitter = RawConnect(path);
    ASSERT_TRUE(quitter.valid());
  }
  auto id = server->Accept();
  EXPECT_FALSE(id.ok());
  EXPECT_EQ(server->peer_count(), 1u);
  EXPECT_TRUE(left_.empty());
  EXPECT_TRUE(ivstest::NothingPending(a.sock.get())) << "nobody is told about a peer that never joined";
  RawClient b;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b)) << "the id was not used up";
}

TEST_F(IvshmemServerTest, NoDescriptorLeaks) {
  const int before = ivstest::CountOpenFds();
  {
    const std::string path = ivstest::UniqueAbstractPath("leak");
    auto server = MakeServer(path, 2);
    ASSERT_TRUE(server);
    RawClient a, b, c;
    ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
    ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &b));
    UniqueFd extra = RawConnect(path);
    EXPECT_FALSE(server->Accept().ok());
    Leave(*server, b);
    ASSERT_NO_FATAL_FAILURE(Join(*server, path, 2, {0, 1}, &c));
    a.sock.reset();
    server->RemovePeer(2);
  }
  EXPECT_EQ(ivstest::CountOpenFds(), before);
}

TEST_F(IvshmemServerTest, AbstractPathWorksAndIsExclusive) {
  const std::string path = ivstest::UniqueAbstractPath("abs");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  EXPECT_EQ(server->path(), path);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  auto second = IvshmemServer::Create(path, memfd_.get(), 4);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos) << second.status().message();
}

TEST_F(IvshmemServerTest, FilesystemPathWorksAndIsUnlinkedOnDestruction) {
  const std::string path = tmp_.File("ivshmem.sock");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
  server.reset();
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);
  RawMsg m;
  EXPECT_EQ(RecvRaw(a.sock.get(), &m), "eof") << "clients see the server go away";
}

TEST_F(IvshmemServerTest, StaleSocketFileIsReplaced) {
  const std::string path = tmp_.File("stale.sock");
  {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }  // closed without unlink: a stale socket file stays behind
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
}

TEST_F(IvshmemServerTest, LiveSocketIsRefused) {
  const std::string path = tmp_.File("live.sock");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  auto second = IvshmemServer::Create(path, memfd_.get(), 4);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), EADDRINUSE);
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos) << second.status().message();
  // The running server is untouched. The refused Create's probe connect()
  // shows up in its backlog as a client that left before its handshake.
  auto probe = server->Accept();
  EXPECT_FALSE(probe.ok());
  EXPECT_EQ(server->peer_count(), 0u);
  RawClient a;
  ASSERT_NO_FATAL_FAILURE(Join(*server, path, 1, {0}, &a));
}

TEST_F(IvshmemServerTest, NonSocketFileIsNotReplaced) {
  const std::string path = tmp_.File("plain-file");
  {
    UniqueFd f(::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid());
  }
  auto server = IvshmemServer::Create(path, memfd_.get(), 4);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("not a socket"), std::string::npos) << server.status().message();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(IvshmemServerTest, DestructorLeavesAReplacedSocketAlone) {
  const std::string path = tmp_.File("replaced.sock");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  auto other = ivshmem::Listen(path);
  ASSERT_TRUE(other.ok()) << other.status().message();
  server.reset();
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << "someone else's socket was unlinked";
}

TEST_F(IvshmemServerTest, CreateRejectsBadArguments) {
  EXPECT_FALSE(IvshmemServer::Create(ivstest::UniqueAbstractPath("bad"), memfd_.get(), 0).ok());
  EXPECT_FALSE(IvshmemServer::Create(ivstest::UniqueAbstractPath("bad"), memfd_.get(), 65536).ok());
  EXPECT_FALSE(IvshmemServer::Create(ivstest::UniqueAbstractPath("bad"), -1, 4).ok());
  EXPECT_FALSE(IvshmemServer::Create("", memfd_.get(), 4).ok());
  EXPECT_FALSE(IvshmemServer::Create("@", memfd_.get(), 4).ok());
  EXPECT_FALSE(IvshmemServer::Create(tmp_.File(std::string(200, 'x')), memfd_.get(), 4).ok());
}

// ---------------------------------------------------------------------------
// ConnectClient against the real server (driven by a loop thread).

TEST_F(IvshmemServerTest, ConnectClientHandshakeAndNotices) {
  const std::string path = tmp_.File("client.sock");
  auto server = MakeServer(path);
  ASSERT_TRUE(server);
  ivstest::ServerLoop loop(server.get());

  auto a = ivshmem::ConnectClient(path, 5000);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->own_id, 1);
  ASSERT_EQ(a->own_vectors.size(), static_cast<size_t>(ivshmem::kVectorsPerPeer));
  EXPECT_TRUE(ivstest::SameFile(a->shm.get(), memfd_.get()));
  ASSERT_EQ(a->peers.size(), 1u);
  ASSERT_EQ(a->peers.at(0).size(), 1u);

  auto b = ivshmem::ConnectClient(path, 5000);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->own_id, 2);
  ASSERT_EQ(b->peers.size(), 2u);
  EXPECT_EQ(b->peers.count(0), 1u);
  EXPECT_EQ(b->peers.count(1), 1u);

  // a learns about b.
  auto join = ivstest::ReceiveWithin(a->socket.get());
  ASSERT_TRUE(join.ok()) << join.status().message();
  auto joined = ivshmem::ApplyNotice(a.value(), std::move(join.value()));
  ASSERT_TRUE(joined.ok()) << joined.status().message();
  EXPECT_EQ(joined.value(), 2);
  ASSERT_EQ(a->peers.at(2).size(), 1u);
  ASSERT_TRUE(ivshmem::Ring(a->peers.at(2)[0].get()).ok());
  EXPECT_EQ(ivstest::WaitEventfd(b->own_vectors[0].get()), 1u);

  // Ringing peer 0 reaches the server loop.
  ASSERT_TRUE(ivshmem::Ring(b->peers.at(0)[0].get()).ok());
  EXPECT_TRUE(loop.WaitFor([](const auto& e) { return e.own_rings >= 1; }));

  // b leaves; a applies the notice.
  b->socket.reset();
  EXPECT_TRUE(loop.WaitFor([](const auto& e) { return e.left.size() == 1 && e.left[0] == 2; }));
  auto leave = ivstest::ReceiveWithin(a->socket.get());
  ASSERT_TRUE(leave.ok()) << leave.status().message();
  EXPECT_FALSE(leave->fd.valid());
  auto left = ivshmem::ApplyNotice(a.value(), std::move(leave.value()));
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left.value(), 2);
  EXPECT_EQ(a->peers.count(2), 0u);

  // Notices that make no sense are rejected.
  ivshmem::Message bogus;
  bogus.value = -3;
  EXPECT_EQ(ivshmem::ApplyNotice(a.value(), std::move(bogus)).status().code(), EPROTO);
  ivshmem::Message self;
  self.value = a->own_id;
  EXPECT_EQ(ivshmem::ApplyNotice(a.value(), std::move(self)).status().code(), EPROTO);
}

TEST(IvshmemClientTest, ConnectToNothingFailsFast) {
  auto c = ivshmem::ConnectClient(ivstest::UniqueAbstractPath("nobody"), 5000);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ECONNREFUSED) << c.status().message();
}

// ---------------------------------------------------------------------------
// ConnectClient against a scripted fake server.

struct Step {
  int64_t value;
  int nfds;  // descriptors attached (0, 1 or 2)
};

// Sends one message with `nfds` descriptors by hand (SendMessage carries at
// most one). Fails once the client has hung up, which it may do at any point.
bool SendRaw(int sock, int64_t value, const std::vector<int>& fds) {
  uint64_t le = htole64(static_cast<uint64_t>(value));
  iovec iov{&le, sizeof le};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (!fds.empty()) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  return ::sendmsg(sock, &mh, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof le);
}

// Accepts one client, sends the script, then either closes at once or holds
// the connection open until the client hangs up (everything bounded).
class FakeServer {
 public:
  FakeServer(std::vector<Step> script, bool close_after_script)
      : path_(ivstest::UniqueAbstractPath("fake")) {
    auto l = ivshmem::Listen(path_);
    EXPECT_TRUE(l.ok()) << l.status().message();
    if (l.ok()) listen_ = std::move(l.value());
    memfd_ = ivstest::MakeMemfd("fake-shm", 4096);
    efd_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this, script = std::move(script), close_after_script] {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 10000) != 1) return;
      UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) return;
      for (const Step& s : script) {
        std::vector<int> fds;
        if (s.nfds >= 1) fds.push_back(s.value == -1 ? memfd_.get() : efd_.get());
        if (s.nfds >= 2) fds.push_back(efd_.get());
        if (!SendRaw(conn.get(), s.value, fds)) return;  // client already gave up
      }
      if (close_after_script) return;
      pollfd c{conn.get(), POLLIN, 0};
      (void)::poll(&c, 1, 10000);  // until the client gives up
    });
  }
  ~FakeServer() { thread_.join(); }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd listen_, memfd_, efd_;
  std::thread thread_;
};

Status ConnectToFake(std::vector<Step> script, bool close_after, int timeout_ms = 5000) {
  FakeServer fake(std::move(script), close_after);
  auto c = ivshmem::ConnectClient(fake.path(), timeout_ms);
  return c.ok() ? Status::Ok() : c.status();
}

TEST(IvshmemClientTest, FakeServerHappyPathIsAccepted) {
  FakeServer fake({{0, 0}, {5, 0}, {-1, 1}, {0, 1}, {3, 1}, {5, 1}}, false);
  auto c = ivshmem::ConnectClient(fake.path(), 5000);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->own_id, 5);
  EXPECT_EQ(c->peers.size(), 2u);
  EXPECT_EQ(c->own_vectors.size(), 1u);
}

TEST(IvshmemClientTest, WrongVersionNamesBothVersions) {
  Status s = ConnectToFake({{1, 0}, {5, 0}, {-1, 1}, {5, 1}}, false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EPROTO);
  EXPECT_NE(s.message().find("version 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("version 0"), std::string::npos) << s.message();
}

TEST(IvshmemClientTest, ServerClosingEarlyIsReported) {
  Status s = ConnectToFake({{0, 0}, {5, 0}}, true);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ECONNRESET);
  EXPECT_NE(s.message().find("closed the connection during the handshake"), std::string::npos) << s.message();
}

TEST(IvshmemClientTest, StalledServerTimesOut) {
  const auto start = Clock::now();
  Status s = ConnectToFake({{0, 0}, {5, 0}, {-1, 1}}, false, /*timeout_ms=*/300);
  const auto elapsed = Clock::now() - start;
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ETIMEDOUT);
  EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
}

TEST(IvshmemClientTest, ServerThatNeverAcceptsTimesOut) {
  const std::string path = ivstest::UniqueAbstractPath("noaccept");
  auto l = ivshmem::Listen(path);
  ASSERT_TRUE(l.ok());
  const auto start = Clock::now();
  auto c = ivshmem::ConnectClient(path, 200);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ETIMEDOUT) << c.status().message();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(3000));
}

// A malformed handshake must fail with EPROTO and say what was wrong.
void ExpectMalformed(std::vector<Step> script, const std::string& expect) {
  Status s = ConnectToFake(std::move(script), false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), EPROTO) << s.message();
  EXPECT_NE(s.message().find(expect), std::string::npos) << s.message();
}

TEST(IvshmemMalformedHandshakeTest, VersionWithFd) { ExpectMalformed({{0, 1}}, "version message carried a file descriptor"); }
TEST(IvshmemMalformedHandshakeTest, OwnIdWithFd) { ExpectMalformed({{0, 0}, {5, 1}}, "own id message carried a file descriptor"); }
TEST(IvshmemMalformedHandshakeTest, OwnIdZero) { ExpectMalformed({{0, 0}, {0, 0}}, "invalid peer id 0"); }
TEST(IvshmemMalformedHandshakeTest, OwnIdNegative) { ExpectMalformed({{0, 0}, {-1, 0}}, "invalid peer id -1"); }
TEST(IvshmemMalformedHandshakeTest, ShmWithoutFd) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 0}}, "carried no file descriptor"); }
TEST(IvshmemMalformedHandshakeTest, ShmMissing) { ExpectMalformed({{0, 0}, {5, 0}, {0, 1}}, "expected the shared memory message"); }
TEST(IvshmemMalformedHandshakeTest, NegativePeerId) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 1}, {-5, 1}}, "unexpected negative id -5"); }
TEST(IvshmemMalformedHandshakeTest, SecondShm) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 1}, {-1, 1}}, "unexpected negative id -1"); }
TEST(IvshmemMalformedHandshakeTest, PeerWithoutFd) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 1}, {3, 0}}, "peer 3 announced without an eventfd"); }
TEST(IvshmemMalformedHandshakeTest, TooManyVectors) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 1}, {3, 1}, {3, 1}}, "more than 1 vectors"); }
TEST(IvshmemMalformedHandshakeTest, TwoFdsInOneMessage) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 2}}, "more than one file descriptor"); }
TEST(IvshmemMalformedHandshakeTest, PeerIdOutOfRange) { ExpectMalformed({{0, 0}, {5, 0}, {-1, 1}, {70000, 1}}, "out of range"); }

}  // namespace
}  // namespace dsm
