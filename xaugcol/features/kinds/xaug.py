"""The XAUG variables (jet-table scalar columns: softdrop mass, N-subjettiness, energy correlators, subjets, jet
kinematics) as a tagger input: one feature per variable, scaled by the tagger's scaler (outliers clipped at mean +-
3 std, then standardised, or min-max scaled as Agarwal, Rappoccio et al. do), profiled per jet, and histogrammed in
pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xaugcol.features.kinds.base import InputKind, ProfileEntries
from xaugcol.features.scaler import XAUGScaler
from xaugcol.quoting import quoted

if TYPE_CHECKING:
    import torch

    from xaugcol.features.kinds.base import TableBlocks, TaggerSettings


# the jet-table columns a tagger sees as "XAUG variables" unless told otherwise
DEFAULT_COLUMNS = (
    "msd",
    "tau1",
    "tau2",
    "tau3",
    "tau4",
    "tau21",
    "tau32",
    "n2",
    "d2",
    "sj_z",
    "sj_dr",
    "sj1_pt",
    "sj2_pt",
    "pt",
    "mass",
    "n_constituents",
)
# variable: (bins, low, high, axis label); also the binning of the processing histograms of every input variable
BINNING = {
    "pt": (60, 0.0, 1500.0, r"jet $p_T$ [GeV]"),
    "eta": (48, -2.4, 2.4, r"jet $\eta$"),
    "mass": (60, 0.0, 300.0, r"jet mass [GeV]"),
    "n_constituents": (150, -0.5, 149.5, "constituents"),  # one bin per integer count
    "msd": (60, 0.0, 300.0, r"$m_{SD}$ [GeV]"),
    "tau1": (50, 0.0, 0.5, r"$\tau_1$"),
    "tau2": (50, 0.0, 0.3, r"$\tau_2$"),
    "tau3": (50, 0.0, 0.2, r"$\tau_3$"),
    "tau4": (50, 0.0, 0.15, r"$\tau_4$"),
    "tau21": (50, 0.0, 1.0, r"$\tau_{21}$"),
    "tau32": (50, 0.0, 1.0, r"$\tau_{32}$"),
    "n2": (50, 0.0, 0.5, r"$N_2^{(1)}$"),
    "d2": (50, 0.0, 5.0, r"$D_2^{(1)}$"),
    "sj_z": (50, 0.0, 0.5, r"subjet $z$"),
    "sj_dr": (50, 0.0, 0.8, r"subjet $\Delta R$"),
    "sj1_pt": (60, 0.0, 1500.0, r"leading subjet $p_T$ [GeV]"),
    "sj2_pt": (60, 0.0, 750.0, r"subleading subjet $p_T$ [GeV]"),
    # the lepton table's observables (``xaugcol.processing.lepton_table``), each relative to the lepton p_T
    **{
        f"iso_{r}": (50, 0.0, 1.0 + 2 * float(r.replace("p", ".")), rf"$I(R_0 = {r.replace('p', '.')})$")
        for r in ("0p05", "0p1", "0p15", "0p2", "0p25", "0p3", "0p35", "0p4")
    },
    "rho": (50, 0.0, 150.0, r"$\rho$ [GeV]"),
    "pt_sum": (50, 0.0, 3.0, r"$\sum E_T$ / $p_T$ (window)"),
    "track_iso": (50, 0.0, 2.0, r"track isolation / $p_T$"),
    "r_had": (50, 0.0, 2.0, r"$R_{had}$"),
    "w_eta2": (50, 0.0, 0.05, r"$w_{\eta 2}$"),
    "r_phi": (50, 0.0, 1.0, r"$R_\phi$"),
    "r_eta": (50, 0.0, 1.0, r"$R_\eta$"),
    "sigma_eta_eta": (50, 0.0, 2.5, r"$\sigma_{\eta\eta}$ [cells]"),
    "e_ecal_0p3": (50, 0.0, 2.0, r"EM $E_T$($\Delta R < 0.3$) / $p_T$"),
    "e_ecal_0p4": (50, 0.0, 2.0, r"EM $E_T$($\Delta R < 0.4$) / $p_T$"),
}


@dataclass(frozen=True)
class XAUGInput(InputKind):
    """The XAUG variables (module docstring): ``xaug_columns``, scaled as ``scaling`` says.

    Parameters
    ----------
    xaug_columns : tuple of str, default DEFAULT_COLUMNS
        The jet-table columns the tagger takes, in the order of the tensor's columns.
    scaling : str, default "standard"
        One of ``SCALINGS`` (``standard``, ``minmax``: ``XAUGScaler``, after clipping at mean +- 3 std).
    """

    name = "xaug"
    jet_scalars = True
    SCALINGS = ("standard", "minmax")
    LEGACY_SCALING = "minmax"
    xaug_columns: tuple[str, ...] = DEFAULT_COLUMNS
    scaling: str = "standard"

    @classmethod
    def from_config(cls, config: TaggerSettings) -> XAUGInput:
        """The kind with the XAUG columns and scaling of the tagger's configuration.

        Parameters
        ----------
        config : TaggerSettings
            The tagger's configuration: its ``xaug_columns`` and its scaling for this kind.

        Returns
        -------
        XAUGInput
            The kind.
        """
        return cls(tuple(config.xaug_columns), config.scaling_of(cls.name, cls.SCALINGS[0]))

    def fit_scaler(self, tables: TableBlocks, scan: dict) -> XAUGScaler:
        """An ``XAUGScaler`` of ``xaug_columns`` fitted on the training split's columns in ``scan``.

        Parameters
        ----------
        tables : TableBlocks
            The jet tables (not read: the columns are in ``scan``).
        scan : dict of str to numpy.ndarray
            The training split's per-jet columns, ``xaug_columns`` among them. The jets are weighted equally.

        Returns
        -------
        XAUGScaler
            The scaler, in the kind's ``scaling`` mode.
        """
        return XAUGScaler.fit(scan, self.xaug_columns, mode=self.scaling)

    def check_scaler(self, scaler: object, where: str) -> None:
        """Refuse a loaded scaler that is not an ``XAUGScaler`` of the kind's columns and scaling.

        Parameters
        ----------
        scaler : object
            The scaler loaded for this kind (None where the file has none).
        where : str
            Names the scaler file in the error.

        Raises
        ------
        ValueError
            Where ``scaler`` is not an ``XAUGScaler`` of ``xaug_columns`` in the kind's ``scaling`` mode.
        """
        if not isinstance(scaler, XAUGScaler) or scaler.columns != self.xaug_columns or scaler.mode != self.scaling:
            raise ValueError(
                f"{where}: the XAUG scaler does not fit the tagger, which takes {list(self.xaug_columns)} "
                f"with {self.scaling} scaling"
            )

    def columns(self) -> tuple[str, ...]:
        """The jet-table columns of the XAUG variables.

        Returns
        -------
        tuple of str
            ``xaug_columns``.
        """
        return self.xaug_columns

    def tensor(self, rows: dict, scaler: XAUGScaler | None = None) -> np.ndarray:
        """(jets, variables) float32: the XAUG variables, scaled by ``scaler``.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            A batch of jet-table rows with every column of ``xaug_columns``, shape (jets,) each.
        scaler : XAUGScaler, optional
            The tagger's scaler; None: the values as stored.

        Returns
        -------
        numpy.ndarray
            Shape (jets, len(xaug_columns)), float32, in the order of ``xaug_columns``.

        Raises
        ------
        ValueError
            With a scaler, where a column holds NaN or inf values (``XAUGScaler.transform``).
        """
        if scaler is not None:
            return scaler.transform(rows)
        return np.stack([rows[c] for c in self.xaug_columns], axis=1).astype(np.float32)

    def model_arguments(self) -> dict:
        """The tagger's keyword argument for the number of XAUG variables.

        Returns
        -------
        dict of str to int
            ``{"n_xaug": len(xaug_columns)}``.
        """
        return {"n_xaug": len(self.xaug_columns)}

    def feature_names(self) -> list[str]:
        """One feature per XAUG variable, named as its column.

        Returns
        -------
        list of str
            ``xaug_columns`` as a list.
        """
        return list(self.xaug_columns)

    def feature_sums(self, relevance: np.ndarray, signed: bool = False) -> np.ndarray:
        """(jets, variables): the relevance of each variable, its absolute value unless ``signed``.

        Parameters
        ----------
        relevance : numpy.ndarray
            Shape (jets, variables): the relevance, normalised per jet.
        signed : bool, default False
            Keep the sign instead of taking the absolute value.

        Returns
        -------
        numpy.ndarray
            Shape (jets, variables): ``relevance`` itself where ``signed``.
        """
        return relevance if signed else np.abs(relevance)

    def binning(self, feature: str) -> tuple[int, float, float, str]:
        """(bins, low, high, axis label) of an XAUG variable, from ``BINNING``.

        Parameters
        ----------
        feature : str
            A variable's column name.

        Returns
        -------
        tuple of (int, float, float, str)
            The number of bins, the lower and upper edges, and the axis label.

        Raises
        ------
        ValueError
            For a variable ``BINNING`` does not hold.
        """
        if feature not in BINNING:
            raise ValueError(f"no histogram binning for XAUG variable {quoted(feature)}; known: {', '.join(BINNING)}")
        return BINNING[feature]

    def profile_entries(self, rows: dict, relevance: np.ndarray) -> list[ProfileEntries]:
        """One entry per jet and variable: the variable's stored (unscaled) value and its relevance.

        Parameters
        ----------
        rows : dict of str to numpy.ndarray
            The explained jets' rows, with every column of ``xaug_columns``.
        relevance : numpy.ndarray
            Shape (jets, variables): their relevance, normalised per jet.

        Returns
        -------
        list of ProfileEntries
            One per variable, in the order of ``xaug_columns``, with ``jet`` None.
        """
        return [ProfileEntries(c, rows[c], relevance[:, k]) for k, c in enumerate(self.xaug_columns)]

    removal_unit = "XAUG variable"

    def removal_baseline(self, scaler: XAUGScaler | None) -> torch.Tensor | float:
        """A removed variable takes its training-split mean (scaled as the tagger sees it).

        That is the value that tells the tagger nothing about the jet. Unscaled inputs: 0.

        Parameters
        ----------
        scaler : XAUGScaler or None
            The tagger member's XAUG scaler; None for unscaled inputs.

        Returns
        -------
        torch.Tensor or float
            Shape (variables,), float32: each variable's mean through ``scaler.transform``; 0.0 without a scaler.
        """
        if scaler is None:
            return 0.0
        import torch  # here, not above: figure workers import the kinds and never torch

        mean = {c: np.array([m]) for c, m in zip(scaler.columns, scaler.mean)}
        return torch.from_numpy(scaler.transform(mean)[0])
