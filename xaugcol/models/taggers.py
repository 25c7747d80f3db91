"""The four taggers of the study, each with or without the XAUG variables joined before its final dense layers.

Agarwal, Rappoccio et al. (arXiv:2011.13466): "XAUG variables are concatenated with the intermediate layers after
network-specific operations (such as convolution or recurrence), and used in the final layers". Every tagger is

    body (network-specific: convolutions / recurrence, or nothing)  ->  Join(body output, XAUG)  ->  head (dense)

and is built only from layers that LRP explains: Linear, Conv1d/2d, MaxPool, BatchNorm, ReLU, LSTM, Flatten,
Dropout, and the explicit ``Join`` module (so relevance can be split exactly between the two branches).

The particle taggers ignore padding (``mask_padding``, the default): the 1D CNN multiplies every block's output by
the real-particle mask (so padded slots hold exactly zero at every layer and the head never sees a bias-driven
activation there) and normalises over real particles only; the LSTM reads each jet's real particles alone and hands
on the hidden state at its last one. ``mask_padding: false`` is the architecture of tagger folders written before
(their config.yaml has no such option; ``xaugcol.models.registry`` reads them so).

Every layer but the last is bias-free by default (``biases: false``), and the 1D CNN has no batch norms
(``batch_norms: false``; a merged batch norm is a bias): with biases, part of every decision is made by constants no
input carries, and LRP books that part as absorbed, not explained. On centred inputs (the scalers of
``xaugcol.features.scaler``) a bias-free tagger decides relative to the average jet, and its relevance sums to the
logit up to the last layer's bias (the prior log-odds). The last layer keeps its bias.

Inputs, in this order (``forward(*inputs)``):
* ``cnn2d``: image (batch, 1, n, n) [, xaug (batch, n_xaug)]
* ``cnn1d``, ``lstm``: particles (batch, n_particles, n_features) [, xaug]
* ``dnn``: xaug (batch, n_xaug)
The output is one logit per jet (signal = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xaugcol.layers import (
    AtLastReal,
    Join,
    MaskedBatchNorm1d,
    MaskedReLU,
    RealParticles,
    ScaleBatchNorm2d,
    SoftestFirst,
)


def batch_norm(kind: type[nn.Module], channels: int, **options: Any) -> nn.Module:
    """Batch norm whose running statistics are the cumulative average over all training batches (momentum None).

    With the default exponential average (momentum 0.1) the statistics of a model kept after its first epoch on a
    small sample still carry the initial variance of 1, and evaluation-mode outputs are wrong.

    Parameters
    ----------
    kind : type of torch.nn.Module
        The batch-norm class (``nn.BatchNorm1d``, ``nn.BatchNorm2d``, ``MaskedBatchNorm1d``).
    channels : int
        The number of channels normalised.
    **options
        Further keyword arguments of ``kind`` (``centre=False`` for a scale-only ``MaskedBatchNorm1d``).

    Returns
    -------
    torch.nn.Module
        ``kind(channels, momentum=None, **options)``.
    """
    return kind(channels, momentum=None, **options)


def dense_head(n_in: int, hidden: Sequence[int], dropout: float, biases: bool = True) -> nn.Sequential:
    """The dense layers after the body (and the join): a ReLU (and dropout) after each ``hidden`` width, then the logit.

    Parameters
    ----------
    n_in : int
        The width of the head's input (the body's output, with the XAUG variables where joined).
    hidden : sequence of int
        The widths of the hidden layers, in order (empty: one linear layer to the logit).
    dropout : float
        The dropout probability after each hidden ReLU (0: no dropout layers).
    biases : bool, default True
        Give the hidden layers a bias (the last layer always keeps its bias).

    Returns
    -------
    torch.nn.Sequential
        The layers, from (batch, n_in) to one output (batch, 1).
    """
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width, bias=biases), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = width
    layers.append(nn.Linear(n_in, 1))
    return nn.Sequential(*layers)


class Tagger(nn.Module):
    """A tagger: body -> [Join with XAUG] -> head.

    Subclasses build ``body``, say how wide its output is, and declare the input kinds (``xaugcol.features.kinds``)
    the body reads; ``xaug_join``: the XAUG variables may be joined.

    Parameters
    ----------
    body : torch.nn.Module or None
        The network-specific layers (``features``); None: the tagger reads the XAUG variables alone, straight
        into the head.
    body_width : int
        The width of the body's flattened output (0 without a body).
    n_xaug : int
        The number of XAUG variables.
    use_xaug : bool
        Join the XAUG vector to the body's output (a ``Join`` module) and widen the head's input by ``n_xaug``.
    hidden : sequence of int
        The widths of the head's hidden layers (``dense_head``).
    dropout : float
        The dropout probability after each hidden layer of the head.
    biases : bool, default True
        Give the head's hidden layers a bias (the last layer always keeps its bias).
    """

    input_kinds: tuple[str, ...] = ()
    xaug_join: bool = True
    imported_only: bool = False  # a tagger made by importing a model trained elsewhere, never trained here

    def __init__(
        self,
        body: nn.Module | None,
        body_width: int,
        n_xaug: int,
        use_xaug: bool,
        hidden: Sequence[int],
        dropout: float,
        biases: bool = True,
    ):
        super().__init__()
        self.body = body
        self.use_xaug = use_xaug
        self.join = Join() if (use_xaug and body is not None) else None
        self.head = dense_head(body_width + (n_xaug if use_xaug else 0), hidden, dropout, biases)

    def inputs(self) -> tuple[str, ...]:
        """Names of the inputs ``forward`` takes, in order.

        Returns
        -------
        tuple of str
            The body's input kinds, then ``xaug`` where it is joined.
        """
        if self.body is None:
            return tuple(self.input_kinds)
        return tuple(self.input_kinds) + (("xaug",) if self.use_xaug else ())

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The body's output for its input (subclasses with several inputs take one tensor per input kind).

        Parameters
        ----------
        x : torch.Tensor
            The input of the body's input kind, jets along the first dimension.

        Returns
        -------
        torch.Tensor
            The body's output, shape (batch, body_width).

        Raises
        ------
        TypeError
            A tagger without a body (it reads the XAUG variables alone).
        """
        if self.body is None:
            raise TypeError(f"{type(self).__name__} has no body: it reads the XAUG variables alone")
        return self.body(x)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """The logit of every jet.

        Parameters
        ----------
        *inputs : torch.Tensor
            One tensor per input, in the order of ``inputs()``: the body's input kinds, then the XAUG vector
            (batch, n_xaug) where it is joined.

        Returns
        -------
        torch.Tensor
            Shape (batch,): one logit per jet (signal = 1).
        """
        if self.body is None:
            (xaug,) = inputs
            return self.head(xaug).squeeze(1)
        n = len(self.input_kinds)  # the body's inputs, then the XAUG vector
        h = self.features(*(inputs[k] for k in range(n)))  # indexed: a traced *inputs cannot be sliced
        if self.join is not None:  # use_xaug (and a body)
            h = self.join(h, inputs[n])
        return self.head(h).squeeze(1)


class CNN2D(Tagger):
    """Jet-image CNN in the spirit of CMS ImageTop.

    Blocks of small-kernel convolutions (with batch norm) and max-pooling. Its input is the image,
    (batch, n_channels, n_pixels, n_pixels).

    Parameters
    ----------
    n_pixels : int, default 37
        The image's side in pixels.
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the body's output before the head; it is then ``forward``'s last
        input.
    channels : sequence of int, default (8, 8, 8, 8)
        The output channels of the 3x3 convolutions, each followed by a batch norm and a ReLU; a 2x2 max-pooling
        after every second one.
    hidden : sequence of int, default (64, 64)
        The widths of the head's hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    biases : bool, default False
        Give the convolutions and the head's hidden layers a bias (and the batch norms their shift).
    n_channels : int, default 1
        The image's channels.
    centred_norms : bool, default False
        Batch norms that take the mean off and shift even without ``biases`` (a shift is a bias): how taggers were
        built before 2026-12-07; their folders load so (``LEGACY_ARCHITECTURE``).
    """

    input_kinds: tuple[str, ...] = ("image",)

    def __init__(
        self,
        n_pixels: int = 37,
        n_xaug: int = 0,
        use_xaug: bool = False,
        channels: Sequence[int] = (8, 8, 8, 8),
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
        biases: bool = False,
        n_channels: int = 1,
        centred_norms: bool = False,
    ):
        layers: list[nn.Module] = []
        c_in, size = n_channels, n_pixels
        # bias-free: the norms only scale (ScaleBatchNorm2d), as cnn1d's and ParticleNet's
        norm = nn.BatchNorm2d if biases or centred_norms else ScaleBatchNorm2d
        for k, c_out in enumerate(channels):
            # batch norm: pixel intensities (pT fractions) are small and sparse; without it the first epochs stall.
            # A convolution before a batch norm needs no bias (the norm's shift is one)
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=biases),
                batch_norm(norm, c_out),
                nn.ReLU(),
            ]
            c_in = c_out
            if k % 2 == 1:  # pool after every second convolution
                layers.append(nn.MaxPool2d(2))
                size //= 2
        layers.append(nn.Flatten())
        super().__init__(nn.Sequential(*layers), c_in * size * size, n_xaug, use_xaug, list(hidden), dropout, biases)


class CaloCNN(CNN2D):
    """The CNN of the lepton studies on the calorimeter image around the lepton (EM and HAD layers as channels).

    ``CNN2D`` on the ``calo`` input kind, (batch, n_channels, n_pixels, n_pixels).

    Parameters
    ----------
    n_pixels : int, default 32
        The image's side in pixels.
    n_channels : int, default 2
        The image's channels (the calorimeter layers).
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the body's output before the head; it is then ``forward``'s last
        input.
    channels : sequence of int, default (8, 8, 8, 8)
        The output channels of the convolutions (as ``CNN2D``).
    hidden : sequence of int, default (64, 64)
        The widths of the head's hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    biases : bool, default False
        Give the convolutions and the head's hidden layers a bias.
    centred_norms : bool, default False
        Batch norms with mean and shift even without ``biases`` (as ``CNN2D``).
    """

    input_kinds = ("calo",)

    def __init__(
        self,
        n_pixels: int = 32,
        n_channels: int = 2,
        n_xaug: int = 0,
        use_xaug: bool = False,
        channels: Sequence[int] = (8, 8, 8, 8),
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
        biases: bool = False,
        centred_norms: bool = False,
    ):
        super().__init__(n_pixels, n_xaug, use_xaug, channels, hidden, dropout, biases, n_channels, centred_norms)


class CNN1D(Tagger):
    """Particle-list 1D CNN in the spirit of DeepAK8.

    Convolutions along the pT-ordered particles (batch norms optional); with ``mask_padding`` every block's output
    is zero on padded slots. Its input is the particle list, (batch, n_particles, n_features).

    Parameters
    ----------
    n_particles : int, default 50
        The particle slots per jet.
    n_features : int, default 17
        The features per particle.
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the body's output before the head; it is then ``forward``'s last
        input.
    channels : sequence of int, default (32, 32, 32)
        The output channels of the convolutions: kernel 1 for the first (a per-particle embedding), 3 for the
        others (neighbours in pT order).
    hidden : sequence of int, default (64, 64)
        The widths of the head's hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    mask_padding : bool, default True
        Zero every block's output on padded slots (masked ReLUs) and take batch-norm statistics over real particles
        only; False: the architecture of tagger folders written before version 0.4.
    batch_norms : bool, default False
        A batch norm after every convolution (scale only when ``biases`` is false).
    biases : bool, default False
        Give the convolutions and the head's hidden layers a bias.
    """

    input_kinds = ("particles",)
    body: nn.Sequential

    def __init__(
        self,
        n_particles: int = 50,
        n_features: int = 17,
        n_xaug: int = 0,
        use_xaug: bool = False,
        channels: Sequence[int] = (32, 32, 32),
        hidden: Sequence[int] = (64, 64),
        dropout: float = 0.0,
        mask_padding: bool = True,
        batch_norms: bool = False,
        biases: bool = False,
    ):
        layers: list[nn.Module] = []
        c_in = n_features
        # bias-free: the batch norms only scale (a shift is a bias)
        norm = MaskedBatchNorm1d if (mask_padding or not biases) else nn.BatchNorm1d
        options = {} if biases else {"centre": False}
        for k, c_out in enumerate(channels):
            kernel = 1 if k == 0 else 3  # a per-particle embedding first, then neighbours in pT order
            layers += [nn.Conv1d(c_in, c_out, kernel_size=kernel, padding=kernel // 2, bias=biases)]
            layers += [batch_norm(norm, c_out, **options)] if batch_norms else []
            layers.append(MaskedReLU(channel_axis=1) if mask_padding else nn.ReLU())
            c_in = c_out
        layers.append(nn.Flatten())
        super().__init__(nn.Sequential(*layers), c_in * n_particles, n_xaug, use_xaug, list(hidden), dropout, biases)
        self.real = RealParticles() if mask_padding else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutions' output for the particle list.

        Parameters
        ----------
        x : torch.Tensor
            The particle list, shape (batch, n_particles, n_features); padded slots are all zeros.

        Returns
        -------
        torch.Tensor
            The last block's output flattened, shape (batch, channels[-1] * n_particles).
        """
        h = x.transpose(1, 2)  # (batch, particles, features) -> channels first
        if self.real is None:
            return self.body(h)
        mask = self.real(x).unsqueeze(1)  # (batch, 1, particles)
        for layer in self.body:  # padded slots: exactly zero after every block (the masked ReLUs)
            h = layer(h, mask) if isinstance(layer, (MaskedBatchNorm1d, MaskedReLU)) else layer(h)
        return h


class LSTMTagger(Tagger):
    """Recurrent tagger over the particle list, read softest first so that the last step, whose hidden state goes
    to the head, is the hardest particle. With ``mask_padding`` each jet's real particles are read alone (padding
    after them, never reaching the head); without, the whole list is flipped (padding, all zeros, first).

    Its input is the particle list, (batch, n_particles, n_features).

    Parameters
    ----------
    n_features : int, default 17
        The features per particle.
    n_xaug : int, default 0
        The number of XAUG variables (0 without them).
    use_xaug : bool, default False
        Join the XAUG vector (batch, n_xaug) to the body's output before the head; it is then ``forward``'s last
        input.
    hidden_size : int, default 64
        The width of the LSTM's hidden state (the body's output).
    hidden : sequence of int, default (64,)
        The widths of the head's hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer of the head.
    mask_padding : bool, default True
        Read each jet's real particles alone; False: the architecture of tagger folders written before version 0.4.
    biases : bool, default False
        Give the LSTM and the head's hidden layers biases.
    """

    input_kinds = ("particles",)
    body: nn.LSTM

    def __init__(
        self,
        n_features: int = 17,
        n_xaug: int = 0,
        use_xaug: bool = False,
        hidden_size: int = 64,
        hidden: Sequence[int] = (64,),
        dropout: float = 0.0,
        mask_padding: bool = True,
        biases: bool = False,
    ):
        super().__init__(
            nn.LSTM(n_features, hidden_size, batch_first=True, bias=biases),
            hidden_size,
            n_xaug,
            use_xaug,
            list(hidden),
            dropout,
            biases,
        )
        self.masked = mask_padding
        if mask_padding:
            self.real, self.order, self.last = RealParticles(), SoftestFirst(), AtLastReal()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM's hidden state after the hardest particle.

        Parameters
        ----------
        x : torch.Tensor
            The particle list in pT order (hardest first), shape (batch, n_particles, n_features); padded slots are
            all zeros.

        Returns
        -------
        torch.Tensor
            Shape (batch, hidden_size).
        """
        if not self.masked:
            out, _ = self.body(torch.flip(x, dims=[1]))
            return out[:, -1, :]
        mask = self.real(x)
        out, _ = self.body(self.order(x, mask))
        return self.last(out, mask)


class XAUGDNN(Tagger):
    """Dense network on the XAUG variables alone.

    Its input is the XAUG vector, (batch, n_xaug).

    Parameters
    ----------
    n_xaug : int
        The number of XAUG variables (at least 1).
    hidden : sequence of int, default (64, 64, 64)
        The widths of the hidden layers.
    dropout : float, default 0.0
        The dropout probability after each hidden layer.
    use_xaug : bool, default True
        Not used: the XAUG variables are always the input (taken so that every tagger has the same argument).
    biases : bool, default False
        Give the hidden layers a bias (the last layer always keeps its bias).

    Raises
    ------
    ValueError
        ``n_xaug`` below 1.
    """

    input_kinds = ("xaug",)
    xaug_join = False

    def __init__(
        self,
        n_xaug: int,
        hidden: Sequence[int] = (64, 64, 64),
        dropout: float = 0.0,
        use_xaug: bool = True,
        biases: bool = False,
    ):
        if n_xaug < 1:
            raise ValueError("the XAUG DNN needs at least one XAUG variable")
        super().__init__(None, 0, n_xaug, True, list(hidden), dropout, biases)
