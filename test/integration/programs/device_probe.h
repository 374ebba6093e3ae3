/* A test program's read-only view of its host's device: what other nodes have
 * asked the daemon and what the daemon marked in the host lock table, read
 * from the shared space this node maps (device/include/dsm/device/protocol.h
 * defines every byte; these functions only read).
 *
 * For tests that must wait for a condition inside the daemon's protocol
 * instead of waiting for time. Valid only in a running node (after the
 * runtime attached). Thread safety: atomic loads only; callable from any
 * thread, async-signal-safe. */
#ifndef DSM_TEST_DEVICE_PROBE_H_
#define DSM_TEST_DEVICE_PROBE_H_

#ifdef __cplusplus
extern "C" {
#endif

/* Register pages of this host holding a lock request (kLock) for `id` that
 * the node posted and the daemon has not answered yet: nodes committed to
 * receiving the lock from the daemon. -1 when no shared space is mapped. */
int dsm_probe_lock_requests_waiting(unsigned id);

/* 1 when the daemon has marked the host lock table entry of `id` as having
 * queued waiters (so its holder's release goes through the daemon), 0 when
 * not, -1 when the id has no entry or no shared space is mapped. */
int dsm_probe_lock_has_waiters(unsigned id);

#ifdef __cplusplus
}
#endif

#endif /* DSM_TEST_DEVICE_PROBE_H_ */
