"""Mapping a tagger onto human-readable observables (Faucett, Thaler, Whiteson): decision ordering between taggers,
and the guided search over energy-flow polynomials built on it."""
