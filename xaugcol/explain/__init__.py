"""Explaining taggers: layer-wise relevance propagation (``xaugcol.explain.lrp``) and relevance statistics."""
