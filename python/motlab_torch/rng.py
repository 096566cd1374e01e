"""The lab's seeded generator (src-main/util/rng.ts), bit for bit: SplitMix32-seeded xoshiro128**.

The lab draws its training crops and its initial weights from this generator, and saves its
state in every checkpoint's state.json (`data_rng`). Reproducing it exactly means a run started
here samples the same windows and starts from the same weights as one started by the lab, and a
checkpoint written by either continues with the other on the same data.
"""
import math

import numpy as np

MASK = 0xFFFFFFFF


def _rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & MASK


def _imul(a, b):
    return (a * b) & MASK


def splitmix32_state(seed):
    x = seed & MASK
    s = []
    for _ in range(4):
        x = (x + 0x9E3779B9) & MASK
        z = x
        z = _imul(z ^ (z >> 16), 0x85EBCA6B)
        z = _imul(z ^ (z >> 13), 0xC2B2AE35)
        s.append((z ^ (z >> 16)) & MASK)
    if not any(s):
        s[0] = 1
    return s


def _step(s):
    """One xoshiro128** step on the list s (in place); returns the output."""
    result = _imul(_rotl(_imul(s[1], 5), 7), 9)
    t = (s[1] << 9) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 11)
    return result


class Rng:
    """Seeded with an integer (SplitMix32) or restored from a saved 4-word state."""

    def __init__(self, seed):
        if isinstance(seed, (list, tuple)):
            if len(seed) != 4 or not all(isinstance(w, int) and 0 <= w <= MASK for w in seed):
                raise ValueError(f"an Rng state is 4 unsigned 32-bit integers, got {seed!r}")
            self.s = list(seed)
        else:
            self.s = splitmix32_state(int(seed))

    def next_u32(self):
        return _step(self.s)

    def uniform(self):
        return self.next_u32() / 4294967296

    def int(self, n):
        if not n > 0:
            raise ValueError(f"Rng.int needs n > 0, got {n}")
        return math.floor(self.uniform() * n)

    def normal(self):
        u = self.uniform()
        while u <= 1e-12:
            u = self.uniform()
        v = self.uniform()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)

    def state(self):
        return list(self.s)


# ---------------------------------------------------------------------------------------------
# Many draws at once. xoshiro128** is linear over GF(2): its 128-bit state advances by a fixed
# 128x128 bit matrix A. Lanes start K steps apart (state A^(jK) s), then all lanes step together
# in numpy; concatenated, the lanes are exactly the sequential stream.

def _transition_matrix():
    cols = []
    for bit in range(128):
        s = [0, 0, 0, 0]
        s[bit // 32] = 1 << (bit % 32)
        _step(s)
        cols.append([(s[i // 32] >> (i % 32)) & 1 for i in range(128)])
    return np.array(cols, dtype=np.int64).T  # column j = A e_j


_A = None
_POWERS = {}


def _matrix_power(k):
    """A^k (k a power of two) over GF(2)."""
    global _A
    if k in _POWERS:
        return _POWERS[k]
    if _A is None:
        _A = _transition_matrix()
    m, p = _A, 1
    while p < k:
        m = (m @ m) & 1
        p *= 2
    _POWERS[k] = m
    return m


def u32_stream(state, count):
    """The next `count` outputs of a generator in `state` (as Rng(state).next_u32() would give)."""
    if count <= 256:
        s = list(state)
        return np.array([_step(s) for _ in range(count)], dtype=np.uint32)
    k = 1 << max(6, math.ceil(math.log2(math.sqrt(count))))
    lanes = -(-count // k)
    jump = _matrix_power(k)
    v = np.array([(state[i // 32] >> (i % 32)) & 1 for i in range(128)], dtype=np.int64)
    bits = np.empty((lanes, 128), dtype=np.int64)
    for j in range(lanes):
        bits[j] = v
        v = (jump @ v) & 1
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    words = [(bits[:, 32 * w:32 * w + 32].astype(np.uint64) * weights).sum(1).astype(np.uint32) for w in range(4)]
    s0, s1, s2, s3 = words
    out = np.empty((k, lanes), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for i in range(k):
            x = s1 * np.uint32(5)
            out[i] = ((x << np.uint32(7)) | (x >> np.uint32(25))) * np.uint32(9)
            t = s1 << np.uint32(9)
            s2 = s2 ^ s0
            s3 = s3 ^ s1
            s1 = s1 ^ s2
            s0 = s0 ^ s3
            s2 = s2 ^ t
            s3 = (s3 << np.uint32(11)) | (s3 >> np.uint32(21))
    return out.T.reshape(-1)[:count]


def normal_array(seed, count):
    """`count` draws of Rng(seed).normal(), as float64 (Box-Muller exactly as the lab draws them)."""
    state = splitmix32_state(seed)
    raw = u32_stream(state, 2 * count + 8)
    out = np.empty(count, dtype=np.float64)
    done, pos = 0, 0
    while done < count:
        need = count - done
        if pos + 2 * need > len(raw):  # a zero u (probability 2^-32 per draw) consumed an extra draw
            s = list(state)
            raw = u32_stream(s, pos + 2 * need + 8)
        u = raw[pos:pos + 2 * need:2]
        zero = np.flatnonzero(u == 0)  # u <= 1e-12 means exactly 0 in 32-bit resolution: drawn again
        take = need if len(zero) == 0 else int(zero[0])
        uu = raw[pos:pos + 2 * take:2].astype(np.float64) / 4294967296
        vv = raw[pos + 1:pos + 2 * take:2].astype(np.float64) / 4294967296
        out[done:done + take] = np.sqrt(-2 * np.log(uu)) * np.cos(2 * math.pi * vv)
        done += take
        pos += 2 * take
        if take < need:
            pos += 1  # skip the zero; the next draw is the new u
    return out
