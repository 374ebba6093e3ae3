"""Checks a cd-hit protein clustering against its input and prints a summary.

Usage: check_clusters.py INPUT.fa REPRESENTATIVES.fa CLUSTERS.clstr

cd-hit writes the representative sequences (REPRESENTATIVES.fa) and every
cluster with its members (CLUSTERS.clstr, lines `K<TAB>LENaa, >ID... *` for
the representative and `... at P%` for a member). Which representative a
member joins may depend on the thread count when several qualify, so the
test compares the representatives byte for byte and checks here what must
hold for any thread count: every input sequence is in exactly one cluster
with its own length, each cluster has one representative, no member is
longer than it, every member is at least 90% identical to it (cd-hit's
default -c 0.9), and the representatives are those of REPRESENTATIVES.fa.
Prints "SEQUENCES sequences in CLUSTERS clusters"; exits 1 naming the first
violation.
"""
import re
import sys

LINE = re.compile(r'^\d+\t(\d+)aa, >(\S+)\.\.\. (\*|at (\d+\.\d+)%)$')


def read_fasta(path):
  """{id: length} in file order."""
  lengths, name = {}, None
  with open(path) as f:
    for line in f:
      line = line.rstrip('\n')
      if line.startswith('>'):
        name = line[1:].split()[0]
        if name in lengths:
          fail('%s: %s twice' % (path, name))
        lengths[name] = 0
      elif name is not None:
        lengths[name] += len(line)
  return lengths


def fail(message):
  print('check_clusters: ' + message)
  sys.exit(1)


def main():
  sequences = read_fasta(sys.argv[1])
  representatives = read_fasta(sys.argv[2])
  seen, clusters, found_representatives = set(), [], []
  with open(sys.argv[3]) as f:
    for line in f:
      line = line.rstrip('\n')
      if line.startswith('>Cluster '):
        clusters.append([])
        continue
      m = LINE.match(line)
      if not m or not clusters:
        fail('unexpected line: %r' % line)
      length, name, identity = int(m.group(1)), m.group(2), m.group(4)
      if name not in sequences:
        fail('%s is not an input sequence' % name)
      if name in seen:
        fail('%s is in two clusters' % name)
      if sequences[name] != length:
        fail('%s has %d residues, not %d' % (name, sequences[name], length))
      seen.add(name)
      clusters[-1].append((name, length, identity))
  if len(seen) != len(sequences):
    fail('%d input sequences are in no cluster' % (len(sequences) - len(seen)))
  for members in clusters:
    heads = [m for m in members if m[2] is None]
    if len(heads) != 1:
      fail('a cluster of %s has %d representatives' % (members[0][0], len(heads)))
    head = heads[0]
    found_representatives.append(head[0])
    for name, length, identity in members:
      if length > head[1]:
        fail('%s is longer than its representative %s' % (name, head[0]))
      if identity is not None and float(identity) < 90.0:
        fail('%s is only %s%% identical to %s' % (name, identity, head[0]))
  if sorted(found_representatives) != sorted(representatives):
    fail('the clusters\' representatives are not those of %s' % sys.argv[2])
  print('%d sequences in %d clusters' % (len(sequences), len(clusters)))


if __name__ == '__main__':
  main()
