"""LRP through ``torch.nn.LSTM`` with the signal-take-all rule of Arras et al.

Arras et al. (2017, "Explaining recurrent neural network predictions in sentiment analysis").

torch's cell (gate order i, f, g, o):  c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t),
g = tanh(W_ig x_t + W_hg h_{t-1} + b_ig + b_hg). Relevance of h_t goes entirely to c_t (the gate o gets none), c_t
shares it between c_{t-1} and g in proportion to f * c_{t-1} and i * g (the gates i, f get none), and g shares it
among x_t and h_{t-1} with the epsilon rule. With ``redistribute_bias`` the bias and stabiliser shares are spread
evenly over the N units feeding a neuron (the paper's formula, N counted per neuron: 2 for the cell sum, inputs +
hidden units for g), so the input relevance sums to the output exactly. The initial state is zero and not an input:
at the first step N counts the inputs alone.

Runs columnar over the batch; the only loop is over time steps, and the input shares of all steps come out of one
matrix product after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from xaugcol.explain.lrp.rules import stabilise
from xaugcol.quoting import quoted


@dataclass
class SignalTakeAll:
    """The LSTM rule (signal-take-all; module docstring).

    Parameters
    ----------
    epsilon : float, default 1e-6
        Stabilises the two proportional splits (cell sum and g's pre-activation); > 0.
    redistribute_bias : bool, default False
        Spread the bias and stabiliser shares evenly over the units feeding each neuron, so that the input
        relevance sums to the output exactly; otherwise they are booked as absorbed.

    Raises
    ------
    ValueError
        Where ``epsilon`` is not > 0 or ``redistribute_bias`` is not a bool.
    """

    epsilon: float = 1e-6
    redistribute_bias: bool = False

    def __post_init__(self):
        if not self.epsilon > 0:
            raise ValueError(f"LSTM rule: epsilon must be > 0, got {quoted(self.epsilon)}")
        if not isinstance(self.redistribute_bias, bool):
            raise ValueError("LSTM rule: redistribute_bias must be true or false")


def check_supported(lstm: nn.LSTM, name: str) -> None:
    """Refuse an LSTM the rule does not handle: bidirectional or projected.

    Parameters
    ----------
    lstm : torch.nn.LSTM
        The module.
    name : str
        Its module name, for the message.

    Raises
    ------
    ValueError
        Where ``lstm`` is bidirectional or has ``proj_size`` > 0.
    """
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError(f"LRP: LSTM {name!r}: bidirectional and projected LSTMs are not supported")


@dataclass
class _LayerTrace:
    x: torch.Tensor  # (B, T, F) layer input
    f: torch.Tensor  # (B, T, H) forget gate
    ig: torch.Tensor  # (B, T, H) i * g, the new-signal term of the cell sum
    c: torch.Tensor  # (B, T, H) cell states
    h: torch.Tensor  # (B, T, H) hidden states
    zg: torch.Tensor  # (B, T, H) pre-activation of g


def _params(lstm: nn.LSTM, layer: int):
    w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
    bias = None
    if lstm.bias:
        bias = getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}")
    return w_ih, w_hh, bias


def forward(
    lstm: nn.LSTM, x: torch.Tensor
) -> tuple[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]], list[_LayerTrace]]:
    """The LSTM's outputs as torch returns them (zero initial state), and the per-layer traces LRP needs.

    Parameters
    ----------
    lstm : torch.nn.LSTM
        A unidirectional, unprojected LSTM (``check_supported``).
    x : torch.Tensor
        Its input, shape (batch, time, features) with ``batch_first``, else (time, batch, features).

    Returns
    -------
    outputs : tuple
        ``(out, (h_n, c_n))``: ``out`` the top layer's hidden states, shaped like ``x`` with ``hidden_size``
        features; ``h_n`` and ``c_n`` the last step's hidden and cell states, shape (layers, batch, hidden).
    traces : list of _LayerTrace
        Per layer, from the bottom: its input, forget gate, ``i * g``, cell and hidden states and g's
        pre-activation, each of shape (batch, time, ...).
    """
    if not lstm.batch_first:
        x = x.transpose(0, 1)
    traces = []
    for layer in range(lstm.num_layers):
        w_ih, w_hh, bias = _params(lstm, layer)
        hidden = w_hh.shape[1]
        projected = x @ w_ih.T  # every time step at once
        if bias is not None:
            projected = projected + bias
        batch, steps = x.shape[:2]
        h = x.new_zeros(batch, hidden)
        c = x.new_zeros(batch, hidden)
        fs, igs, cs, hs, zgs = [], [], [], [], []
        for t in range(steps):
            pre = projected[:, t] + h @ w_hh.T
            i, f, zg, o = pre.chunk(4, dim=1)
            i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
            ig = i * torch.tanh(zg)
            c = f * c + ig
            h = o * torch.tanh(c)
            fs.append(f)
            igs.append(ig)
            cs.append(c)
            hs.append(h)
            zgs.append(zg)
        trace = _LayerTrace(x, *(torch.stack(v, dim=1) for v in (fs, igs, cs, hs, zgs)))
        traces.append(trace)
        x = trace.h
    out = x if lstm.batch_first else x.transpose(0, 1)
    h_n = torch.stack([t.h[:, -1] for t in traces])
    c_n = torch.stack([t.c[:, -1] for t in traces])
    return (out, (h_n, c_n)), traces


def relevance(
    lstm: nn.LSTM,
    traces: list[_LayerTrace],
    r_out: torch.Tensor | None,
    r_hn: torch.Tensor | None,
    r_cn: torch.Tensor | None,
    rule: SignalTakeAll,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input relevance (shaped like the LSTM input) and per-jet (bias, stabiliser) shares.

    Parameters
    ----------
    lstm : torch.nn.LSTM
        The LSTM that ``forward`` ran.
    traces : list of _LayerTrace
        What ``forward`` returned for this batch.
    r_out : torch.Tensor or None
        The relevance of the output sequence, shaped like ``out``; None: none.
    r_hn : torch.Tensor or None
        The relevance of the final hidden states, shape (layers, batch, hidden); None: none.
    r_cn : torch.Tensor or None
        The relevance of the final cell states, shape (layers, batch, hidden); None: none.
    rule : SignalTakeAll
        The rule's settings.

    Returns
    -------
    relevance : torch.Tensor
        The input's relevance, shaped like the LSTM input.
    bias : torch.Tensor
        Shape (batch,): the relevance the biases kept, summed over layers and steps (zero with
        ``redistribute_bias``).
    stabiliser : torch.Tensor
        Shape (batch,): the relevance the stabilisers kept (zero with ``redistribute_bias``).
    """
    top = traces[-1]
    batch, steps, hidden = top.h.shape
    if r_out is not None and not lstm.batch_first:
        r_out = r_out.transpose(0, 1)
    r_seq = r_out if r_out is not None else top.h.new_zeros(top.h.shape)
    bias_total = top.h.new_zeros(batch)
    kept_total = top.h.new_zeros(batch)
    for layer in reversed(range(lstm.num_layers)):
        tr = traces[layer]
        r_x, bias, kept = _layer_relevance(
            lstm, layer, tr, r_seq, None if r_hn is None else r_hn[layer], None if r_cn is None else r_cn[layer], rule
        )
        bias_total, kept_total = bias_total + bias, kept_total + kept
        r_seq = r_x
    if not lstm.batch_first:
        r_seq = r_seq.transpose(0, 1)
    return r_seq, bias_total, kept_total


def _layer_relevance(lstm, layer, tr: _LayerTrace, r_seq, r_hn, r_cn, rule: SignalTakeAll):
    w_ih, w_hh, bias = _params(lstm, layer)
    hidden = w_hh.shape[1]
    w_ig, w_hg = w_ih[2 * hidden : 3 * hidden], w_hh[2 * hidden : 3 * hidden]
    b_g = None if bias is None else bias[2 * hidden : 3 * hidden]
    batch, steps, n_in = tr.x.shape
    eps, spread = rule.epsilon, rule.redistribute_bias
    zeros = tr.h.new_zeros(batch, hidden)
    r_h = zeros if r_hn is None else r_hn
    r_c = zeros if r_cn is None else r_cn
    s_g = torch.empty_like(tr.h)  # shares of g's pre-activation, per step
    spread_x = tr.h.new_zeros(batch, steps)  # bias + stabiliser share given to each input unit, per step
    bias_kept = tr.h.new_zeros(batch)
    stab_kept = tr.h.new_zeros(batch)
    for t in reversed(range(steps)):
        r_c = r_c + r_h + r_seq[:, t]  # h_t = o * tanh(c_t): the signal c_t takes all
        # cell sum c_t = f c_{t-1} + i g; at t = 0 the first term is zero and is not an input
        old = tr.f[:, t] * tr.c[:, t - 1] if t > 0 else None
        den = stabilise(tr.c[:, t], eps)
        s = r_c / den
        extra = s * (den - tr.c[:, t])  # stabiliser share of the cell sum
        n_units = 2 if t > 0 else 1
        r_gate = tr.ig[:, t] * s + (extra / n_units if spread else 0)
        if spread is False:
            stab_kept = stab_kept + extra.sum(1)
        r_c = (old * s + (extra / n_units if spread else 0)) if t > 0 else zeros
        # g = tanh(W_ig x_t + W_hg h_{t-1} + b_g): epsilon rule on its pre-activation
        zg = tr.zg[:, t]
        den_g = stabilise(zg, eps)
        sg = r_gate / den_g
        s_g[:, t] = sg
        rest = sg * (den_g - zg) + (sg * b_g if b_g is not None else 0)  # bias + stabiliser share per neuron
        if spread:
            per_unit = rest.sum(1) / (n_in + (hidden if t > 0 else 0))
            spread_x[:, t] = per_unit
        else:
            stab_kept = stab_kept + (sg * (den_g - zg)).sum(1)
            if b_g is not None:
                bias_kept = bias_kept + (sg * b_g).sum(1)
        if t > 0:
            r_h = tr.h[:, t - 1] * (sg @ w_hg)
            if spread:
                r_h = r_h + per_unit.unsqueeze(1)
        else:
            r_h = zeros
    r_x = tr.x * (s_g @ w_ig) + spread_x.unsqueeze(2)
    return r_x, bias_kept, stab_kept
