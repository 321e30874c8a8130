"""Keyed random generators of the SynthFER renderer.

Every random choice of SynthFER comes from a PCG64 generator whose 128-bit state is hashed from a
tuple of integers (e.g. ``(seed, split_id, index, stream)``) by a splitmix64 chain: pure integer
arithmetic, so a draw depends only on its key, never on the process, the machine, the order of
access or a global RNG.
"""
import threading

import numpy as np

_M64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _pcg_state(*key: int) -> dict:
    """PCG64 state (128-bit state and odd increment) hashed from a tuple of integers by a
    splitmix64 chain: pure integer arithmetic, identical on every machine."""
    h = 0x5F3759DF
    for k in key:
        h = _splitmix64(h ^ (int(k) & _M64))
    h1 = _splitmix64(h ^ 1)
    h2 = _splitmix64(h1 ^ 2)
    h3 = _splitmix64(h2 ^ 3)
    h4 = _splitmix64(h3 ^ 4)
    return {'bit_generator': 'PCG64', 'state': {'state': (h1 << 64) | h2, 'inc': ((h3 << 64) | h4) | 1},
            'has_uint32': 0, 'uinteger': 0}


_TLS = threading.local()


def _keyed_rng(*key: int) -> np.random.Generator:
    """A generator in the state hashed from ``key``.

    Setting the state of a per-thread PCG64 costs ~3 µs where ``default_rng(seq)`` costs ~40 µs
    (SeedSequence hashing); this matters because every sample opens six streams.  The returned
    object is reused by the next call in the same thread: use one stream at a time.
    """
    gen = getattr(_TLS, 'gen', None)
    if gen is None:
        gen = _TLS.gen = np.random.Generator(np.random.PCG64(0))
    gen.bit_generator.state = _pcg_state(*key)
    return gen
