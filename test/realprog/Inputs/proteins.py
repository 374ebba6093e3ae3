"""Writes N protein sequences in FASTA to stdout, the same on every machine.

Usage: proteins.py N FAMILIES

Each sequence is a copy of one of FAMILIES random ancestors (80..400 residues)
with about 3% of its residues substituted and up to 10 trimmed from each end,
so that cd-hit's default 90% identity finds clusters of several members. The
generator is a 64-bit linear congruential one written here, so the output does
not depend on Python's random module.
"""
import sys

AMINO_ACIDS = 'ACDEFGHIKLMNPQRSTVWY'


class Lcg:
  def __init__(self, seed):
    self.state = seed

  def below(self, n):
    """A number in 0..n-1 from the state's high bits."""
    self.state = (self.state * 6364136223846793005 + 1442695040888963407) % 2**64
    return (self.state >> 33) % n


def main():
  count, families = int(sys.argv[1]), int(sys.argv[2])
  rng = Lcg(20261201)
  ancestors = [''.join(AMINO_ACIDS[rng.below(20)] for _ in range(80 + rng.below(321)))
               for _ in range(families)]
  out = []
  for k in range(count):
    residues = list(ancestors[rng.below(families)])
    for i in range(len(residues)):
      if rng.below(100) < 3:
        residues[i] = AMINO_ACIDS[rng.below(20)]
    head, tail = rng.below(11), rng.below(11)
    seq = ''.join(residues[head:len(residues) - tail])
    out.append('>s%d\n' % k)
    out.extend(seq[i:i + 60] + '\n' for i in range(0, len(seq), 60))
  sys.stdout.write(''.join(out))


if __name__ == '__main__':
  main()
