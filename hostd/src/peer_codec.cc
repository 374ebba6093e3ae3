#include "dsm/hostd/peer_codec.h"

#include <algorithm>

namespace dsm::hostd::peer {

void PutNotices(BodyWriter* w, const std::vector<uint64_t>& vt, const std::vector<Notice>& notices) {
  NoticeHeader h{};
  h.num_hosts = static_cast<uint32_t>(vt.size());
  h.notice_count = notices.size();
  w->Reserve(sizeof h + vt.size() * sizeof(uint64_t) + notices.size() * sizeof(Notice));
  w->Put(h);
  if (!vt.empty()) w->PutBytes(vt.data(), vt.size() * sizeof(uint64_t));
  if (!notices.empty()) w->PutBytes(notices.data(), notices.size() * sizeof(Notice));
}

bool GetNotices(BodyReader* r, uint32_t num_hosts, uint64_t data_pages, std::vector<uint64_t>* vt,
                std::vector<Notice>* notices) {
  NoticeHeader h;
  if (!r->Get(&h)) return false;
  if (h.num_hosts != num_hosts) return false;
  std::string_view bytes;
  if (!r->GetBytes(uint64_t{h.num_hosts} * sizeof(uint64_t), &bytes)) return false;
  vt->resize(h.num_hosts);
  if (h.num_hosts != 0) std::memcpy(vt->data(), bytes.data(), bytes.size());
  if (h.notice_count > r->remaining() / sizeof(Notice)) return false;
  if (!r->GetBytes(h.notice_count * sizeof(Notice), &bytes)) return false;
  notices->resize(h.notice_count);
  if (h.notice_count != 0) std::memcpy(notices->data(), bytes.data(), bytes.size());
  for (const Notice& n : *notices) {
    if (n.page >= data_pages || n.writer >= num_hosts) return false;
  }
  return true;
}

void PutMoves(BodyWriter* w, const std::vector<HomeMove>& moves) {
  w->Reserve(sizeof(MoveHeader) + moves.size() * sizeof(HomeMove));
  w->Put(MoveHeader{moves.size()});
  if (!moves.empty()) w->PutBytes(moves.data(), moves.size() * sizeof(HomeMove));
}

bool GetMoves(BodyReader* r, uint32_t num_hosts, uint64_t data_pages, std::vector<HomeMove>* moves) {
  MoveHeader h;
  if (!r->Get(&h) || h.move_count > r->remaining() / sizeof(HomeMove)) return false;
  std::string_view bytes;
  if (!r->GetBytes(h.move_count * sizeof(HomeMove), &bytes)) return false;
  moves->resize(h.move_count);
  if (h.move_count != 0) std::memcpy(moves->data(), bytes.data(), bytes.size());
  for (const HomeMove& m : *moves) {
    if (m.page >= data_pages || m.home >= num_hosts) return false;
  }
  return true;
}

void CompactNotices(std::vector<Notice>* notices) {
  std::sort(notices->begin(), notices->end(), [](const Notice& a, const Notice& b) {
    return a.page != b.page ? a.page < b.page : a.version > b.version;
  });
  auto last = std::unique(notices->begin(), notices->end(),
                          [](const Notice& a, const Notice& b) { return a.page == b.page; });
  notices->erase(last, notices->end());
}

}  // namespace dsm::hostd::peer
