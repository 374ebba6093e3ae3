/* tree.c: the barnes program's octree, built each step without locks
 * (subtrees of the subcubes per thread from its own pools, the top levels by
 * thread 0), its moments, the costzones partition and the force walks (see
 * barnes.h and README.md).
 *
 * compute_forces is called by every thread of the team (it contains
 * barriers); the rest are its helpers on the calling thread's own data.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "barnes.h"

/* The tree of the current step. */
static node_t *subroot[MAX_SUB];      /* the subcubes' subtrees */
static node_t *root;
node_t *pool_base[MAX_THREADS][2];
static int pool_used[MAX_THREADS][2];  /* cells and leaves used this step */
static int overflow;

/* ---- tree building (each thread in its own pools) */

static node_t *new_node(ctx_t *c, int leaf) {
  node_t *n;
  if (leaf) {
    if (c->nleaves == c->cap_leaves) return NULL;
    n = &c->leaves[c->nleaves++];
  } else {
    if (c->ncells == c->cap_cells) return NULL;
    n = &c->cells[c->ncells++];
  }
  memset(n, 0, sizeof *n);
  n->leaf = leaf;
  return n;
}

static int octant(const double *pos, const double *center) {
  return (pos[0] >= center[0]) | (pos[1] >= center[1]) << 1 | (pos[2] >= center[2]) << 2;
}

static void child_center(const double *center, double half, int oct, double *out) {
  for (int k = 0; k < 3; ++k) out[k] = center[k] + ((oct >> k & 1) ? 0.5 : -0.5) * half;
}

/* Inserts body idx of b into the subtree at *slot (a cube of the given
 * centre and half edge). Returns 0, or -1 when a pool is exhausted or the
 * tree too deep. */
static int insert(ctx_t *c, node_t **slot, const double *center, double half, int idx,
                  const body_t *b, int depth) {
  node_t *n = *slot;
  if (depth > MAX_DEPTH) return -1;
  if (n == NULL) {
    if ((n = new_node(c, 1)) == NULL) return -1;
    n->u.b.count = 1;
    n->u.b.idx[0] = idx;
    *slot = n;
    return 0;
  }
  if (n->leaf && n->u.b.count < LEAF_MAX) {
    n->u.b.idx[n->u.b.count++] = idx;
    return 0;
  }
  if (n->leaf) {  /* full: becomes a cell holding its bodies and the new one */
    node_t *cell = new_node(c, 0);
    if (cell == NULL) return -1;
    *slot = cell;
    for (int k = 0; k < n->u.b.count; ++k) {
      if (insert(c, slot, center, half, n->u.b.idx[k], b, depth) != 0) return -1;
    }
    n = cell;
  }
  int oct = octant(b[idx].pos, center);
  double cc[3];
  child_center(center, half, oct, cc);
  return insert(c, &n->u.child[oct], cc, 0.5 * half, idx, b, depth + 1);
}

/* Mass, centre of mass, quadrupole, cost and count of n (a cube of the
 * given centre and half edge) from its bodies, or from its children's. */
static void combine(node_t *n, const double *center, double half, const body_t *b) {
  int parts = n->leaf ? n->u.b.count : 8;
  double m = 0.0, mx[3] = {0, 0, 0}, q[6] = {0, 0, 0, 0, 0, 0};
  int64_t cost = 0;
  int count = 0;
  for (int pass = 0; pass < 2; ++pass) {  /* mass and centre first, then Q */
    for (int k = 0; k < parts; ++k) {
      const double *pos;
      double pm;
      if (n->leaf) {
        const body_t *p = &b[n->u.b.idx[k]];
        pos = p->pos;
        pm = p->mass;
        if (pass == 0) {
          cost += p->cost;
          count += 1;
        }
      } else {
        const node_t *ch = n->u.child[k];
        if (ch == NULL) continue;
        pos = ch->com;
        pm = ch->mass;
        if (pass == 0) {
          cost += ch->cost;
          count += ch->nbodies;
        } else {
          for (int i = 0; i < 6; ++i) q[i] += ch->quad[i];
        }
      }
      if (pass == 0) {
        m += pm;
        for (int d = 0; d < 3; ++d) mx[d] += pm * pos[d];
        continue;
      }
      /* Q = sum m (3 d d^T - |d|^2 I), d from the centre of mass (for
       * children: parallel axes, their own Q added above). */
      double d[3] = {pos[0] - n->com[0], pos[1] - n->com[1], pos[2] - n->com[2]};
      double d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
      q[0] += pm * (3 * d[0] * d[0] - d2);
      q[1] += pm * 3 * d[0] * d[1];
      q[2] += pm * 3 * d[0] * d[2];
      q[3] += pm * (3 * d[1] * d[1] - d2);
      q[4] += pm * 3 * d[1] * d[2];
      q[5] += pm * (3 * d[2] * d[2] - d2);
    }
    if (pass == 0) {
      n->mass = m;
      for (int d = 0; d < 3; ++d) n->com[d] = m > 0 ? mx[d] / m : center[d];
    }
  }
  memcpy(n->quad, q, sizeof q);
  n->cost = cost;
  n->nbodies = count;
  n->size = 2.0 * half;
  double off[3] = {n->com[0] - center[0], n->com[1] - center[1], n->com[2] - center[2]};
  n->delta = sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2]);
}

/* The moments of the whole subtree n, children first. */
static void moments(node_t *n, const double *center, double half, const body_t *b) {
  if (!n->leaf) {
    for (int oct = 0; oct < 8; ++oct) {
      if (n->u.child[oct] == NULL) continue;
      double cc[3];
      child_center(center, half, oct, cc);
      moments(n->u.child[oct], cc, 0.5 * half, b);
    }
  }
  combine(n, center, half, b);
}

/* The subcube (Morton index) containing pos, at depth cfg.levels_top of the
 * root cube (corner lo, edge size). */
static int subcube(const double *pos, const double *lo, double size) {
  int side = 1 << cfg.levels_top, ix[3];
  for (int k = 0; k < 3; ++k) {
    int i = (int)floor((pos[k] - lo[k]) / size * side);
    ix[k] = i < 0 ? 0 : i >= side ? side - 1 : i;
  }
  int s = 0;
  for (int l = cfg.levels_top - 1; l >= 0; --l) {
    s = s * 8 + ((ix[0] >> l & 1) | (ix[1] >> l & 1) << 1 | (ix[2] >> l & 1) << 2);
  }
  return s;
}

/* Centre of subcube s (half edge = size / 2^(K+1)). */
static void subcube_center(int s, const double *lo, double size, double *out) {
  int side = 1 << cfg.levels_top, ix[3] = {0, 0, 0};
  for (int l = 0; l < cfg.levels_top; ++l) {
    int oct = s >> (3 * l) & 7;
    for (int k = 0; k < 3; ++k) ix[k] |= (oct >> k & 1) << l;
  }
  for (int k = 0; k < 3; ++k) out[k] = lo[k] + (ix[k] + 0.5) * size / side;
}

/* Thread 0: the cells of the top levels above the subcubes (prefix: the
 * Morton index so far, at depth `level`), their moments from the subtrees'.
 * Sets *failed when the pool is exhausted. */
static node_t *link_top(ctx_t *c, int level, int prefix, const double *center, double half,
                        const body_t *b, int *failed) {
  if (level == cfg.levels_top) return subroot[prefix];
  node_t *kids[8];
  int any = 0;
  for (int oct = 0; oct < 8; ++oct) {
    double cc[3];
    child_center(center, half, oct, cc);
    kids[oct] = link_top(c, level + 1, prefix * 8 + oct, cc, 0.5 * half, b, failed);
    any |= kids[oct] != NULL;
  }
  if (!any) return NULL;
  node_t *n = new_node(c, 0);
  if (n == NULL) {
    *failed = 1;
    return NULL;
  }
  memcpy(n->u.child, kids, sizeof kids);
  combine(n, center, half, b);
  return n;
}

/* ---- forces */

/* Acceleration and potential at pos (of body `self`, skipped) from the tree
 * over the bodies b; returns the number of interactions. */
static int64_t gravity(const node_t *top, const double *pos, int64_t self, const body_t *b,
                       double *acc, double *phi) {
  const node_t *stack[8 * MAX_DEPTH + 16];
  int sp = 0;
  double a[3] = {0, 0, 0}, ph = 0.0, eps2 = cfg.eps * cfg.eps, inv_theta = 1.0 / cfg.theta;
  int64_t cost = 0;
  if (top) stack[sp++] = top;
  while (sp > 0) {
    const node_t *n = stack[--sp];
    double d[3] = {n->com[0] - pos[0], n->com[1] - pos[1], n->com[2] - pos[2]};
    double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    double rcrit = n->size * inv_theta + n->delta;
    if (r2 > rcrit * rcrit) {  /* far enough: monopole and quadrupole */
      double s2 = r2 + eps2, inv = 1.0 / sqrt(s2), inv2 = inv * inv, inv3 = inv * inv2;
      const double *q = n->quad;
      double qd[3] = {q[0] * d[0] + q[1] * d[1] + q[2] * d[2],
                      q[1] * d[0] + q[3] * d[1] + q[4] * d[2],
                      q[2] * d[0] + q[4] * d[1] + q[5] * d[2]};
      double dqd = d[0] * qd[0] + d[1] * qd[1] + d[2] * qd[2], inv5 = inv3 * inv2;
      ph -= n->mass * inv + 0.5 * dqd * inv5;
      for (int k = 0; k < 3; ++k) {
        a[k] += n->mass * d[k] * inv3 - qd[k] * inv5 + 2.5 * dqd * d[k] * inv5 * inv2;
      }
      ++cost;
    } else if (n->leaf) {
      for (int k = 0; k < n->u.b.count; ++k) {
        const body_t *p = &b[n->u.b.idx[k]];
        if (p->id == self) continue;
        double e[3] = {p->pos[0] - pos[0], p->pos[1] - pos[1], p->pos[2] - pos[2]};
        double s2 = e[0] * e[0] + e[1] * e[1] + e[2] * e[2] + eps2;
        double inv = 1.0 / sqrt(s2), inv3 = inv * inv * inv;
        ph -= p->mass * inv;
        for (int j = 0; j < 3; ++j) a[j] += p->mass * e[j] * inv3;
        ++cost;
      }
    } else {
      for (int oct = 7; oct >= 0; --oct) {
        if (n->u.child[oct]) stack[sp++] = n->u.child[oct];
      }
    }
  }
  memcpy(acc, a, sizeof a);
  *phi = ph;
  return cost;
}

/* ---- costzones */

typedef struct {
  int64_t before;  /* cost of the bodies before, in tree order */
  int index;       /* bodies before */
  int first, last; /* the zone's bodies: [first, last) in tree order */
} walk_t;

/* Copies zone t's bodies (cost-before S with t C <= S p < (t+1) C) from cur
 * to next, in tree order, skipping whole subtrees outside the zone. */
static int zone_walk(const node_t *n, walk_t *w, int t, int64_t total, const body_t *cur,
                     body_t *next) {
  int64_t p = cfg.threads, lo = (int64_t)t * total, hi = (int64_t)(t + 1) * total;
  if ((w->before + n->cost) * p <= lo) {
    w->before += n->cost;
    w->index += n->nbodies;
    return 0;
  }
  if (w->before * p >= hi) return 1;  /* past the zone: done */
  if (n->leaf) {
    for (int k = 0; k < n->u.b.count; ++k) {
      const body_t *src = &cur[n->u.b.idx[k]];
      int64_t s = w->before * p;
      if (s >= hi) return 1;
      if (s >= lo) {
        if (w->first < 0) w->first = w->index;
        next[w->index] = *src;
        w->last = w->index + 1;
      }
      w->before += src->cost;
      w->index += 1;
    }
    return 0;
  }
  for (int oct = 0; oct < 8; ++oct) {
    if (n->u.child[oct] && zone_walk(n->u.child[oct], w, t, total, cur, next)) return 1;
  }
  return 0;
}

/* ---- one force computation (every thread) */

/* Reads a word of every page of the other threads' tree pools, in address
 * order, before the walks. Costs nothing much on one machine; on a
 * distributed shared memory the pages then arrive in a few long sequential
 * transfers instead of one by one, at random, during the walks. */
static void touch_pools(const ctx_t *c) {
  double sum = 0.0;
  for (int s = 0; s < cfg.threads; ++s) {
    if (s == c->t) continue;
    for (int k = 0; k < 2; ++k) {
      const char *p = (const char *)pool_base[s][k];
      size_t bytes = (size_t)pool_used[s][k] * sizeof(node_t);
      for (size_t off = 0; off < bytes; off += PAGE) sum += *(const volatile double *)(p + off);
    }
  }
  (void)sum;
}

int compute_forces(ctx_t *c) {
  body_t *cur = bodies[c->cur], *next = bodies[1 - c->cur];
  int nsub = cfg.nsub, n = cfg.nbody;
  double t0 = omp_get_wtime();
  /* Root cube: the bounding box. */
  double box[6] = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
  for (int i = c->lo; i < c->hi; ++i) {
    for (int k = 0; k < 3; ++k) {
      box[k] = fmin(box[k], cur[i].pos[k]);
      box[3 + k] = fmin(box[3 + k], -cur[i].pos[k]);
    }
  }
  reduce(c, box, 6, 6);
  double size = 0.0, lo[3];
  for (int k = 0; k < 3; ++k) size = fmax(size, -box[3 + k] - box[k]);
  size = size * (1.0 + 1e-9) + 1e-12;
  for (int k = 0; k < 3; ++k) lo[k] = 0.5 * (box[k] - box[3 + k]) - 0.5 * size;
  /* Subcubes dealt out in Morton order by the cost of their bodies. */
  double hist[RED_SLOTS];
  memset(hist, 0, (size_t)(2 * nsub) * sizeof *hist);
  for (int i = c->lo; i < c->hi; ++i) {
    int s = subcube(cur[i].pos, lo, size);
    hist[s] += 1.0;
    hist[nsub + s] += (double)cur[i].cost;
  }
  reduce(c, hist, 2 * nsub, 0);
  int64_t total = 0;
  for (int s = 0; s < nsub; ++s) total += (int64_t)hist[nsub + s];
  int64_t before = 0;
  int mine_first = -1, mine_last = -1;
  for (int s = 0; s < nsub; ++s) {
    int64_t o = before * cfg.threads / total;
    if ((int)o == c->t) {
      if (mine_first < 0) mine_first = s;
      mine_last = s + 1;
    }
    before += (int64_t)hist[nsub + s];
  }
  /* Build the subtrees of this thread's subcubes from its pools. */
  c->ncells = c->nleaves = 0;
  node_t *local[MAX_SUB];
  int failed = 0;
  double half = 0.5 * size / (1 << cfg.levels_top);
  if (mine_first >= 0) {
    for (int s = mine_first; s < mine_last; ++s) local[s] = NULL;
    for (int i = 0; i < n && !failed; ++i) {
      int s = subcube(cur[i].pos, lo, size);
      if (s < mine_first || s >= mine_last) continue;
      double center[3];
      subcube_center(s, lo, size, center);
      failed = insert(c, &local[s], center, half, i, cur, 0) != 0;
    }
    for (int s = mine_first; s < mine_last && !failed; ++s) {
      double center[3];
      subcube_center(s, lo, size, center);
      if (local[s]) moments(local[s], center, half, cur);
      subroot[s] = local[s];
    }
  }
  if (failed) {
#pragma omp atomic write
    overflow = 1;
  }
  c->st.tree += omp_get_wtime() - t0;
  timed_barrier(c);
  if (c->t == 0 && !overflow) {
    double center[3] = {lo[0] + 0.5 * size, lo[1] + 0.5 * size, lo[2] + 0.5 * size};
    int top_failed = 0;
    root = link_top(c, 0, 0, center, 0.5 * size, cur, &top_failed);
    if (top_failed) overflow = 1;
  }
  pool_used[c->t][0] = c->ncells;
  pool_used[c->t][1] = c->nleaves;
  timed_barrier(c);
  if (overflow) return -1;
  double t1 = omp_get_wtime();
  touch_pools(c);
  walk_t w = {0, 0, -1, -1};
  zone_walk(root, &w, c->t, root->cost, cur, next);
  c->lo = w.first < 0 ? 0 : w.first;
  c->hi = w.first < 0 ? 0 : w.last;
  double t2 = omp_get_wtime();
  c->st.partition += t2 - t1;
  for (int i = c->lo; i < c->hi; ++i) {
    next[i].cost = gravity(root, next[i].pos, next[i].id, cur, next[i].acc, &next[i].phi);
  }
  c->st.force += omp_get_wtime() - t2;
  c->cur = 1 - c->cur;
  return 0;
}
