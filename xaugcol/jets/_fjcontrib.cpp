// Jet substructure from FastJet and fastjet-contrib (SoftDrop, Nsubjettiness, EnergyCorrelator), for many jets
// in one call. The Python fastjet package exposes softdrop and energy correlators on awkward arrays but not
// N-subjettiness; this module calls the contrib classes that ship, compiled, inside that package, so that the
// numbers are FastJet's own and no per-jet Python loop runs.
//
// Input: flat constituent four-momenta (px, py, pz, E) and offsets (n_jets + 1) into them.
// Output: a dict of numpy arrays, one entry per jet. A jet with fewer than two constituents (or none) gets the
// documented fallback values of xaugcol.jets.substructure, never NaN.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "fastjet/ClusterSequence.hh"
#include "fastjet/PseudoJet.hh"
#include "fastjet/contrib/EnergyCorrelator.hh"
#include "fastjet/contrib/Nsubjettiness.hh"
#include "fastjet/contrib/SoftDrop.hh"

#ifndef XAUGCOL_FASTJET_WHEEL
#define XAUGCOL_FASTJET_WHEEL "unknown"
#endif

namespace py = pybind11;
namespace fj = fastjet;
namespace fjc = fastjet::contrib;

namespace {

using Column = std::vector<double>;

const char *kColumns[] = {"msd",     "sd_pt",   "sd_eta",  "sd_phi",  "sd_n_constituents",
                          "sj1_pt",  "sj1_eta", "sj1_phi", "sj1_mass", "sj2_pt",
                          "sj2_eta", "sj2_phi", "sj2_mass", "sj_z",    "sj_dr",
                          "tau1",    "tau2",    "tau3",    "tau4",     "n2",
                          "d2",      "sd_two_prong"};

double finite_or(double value, double fallback) { return std::isfinite(value) ? value : fallback; }

void fill_subjet(std::map<std::string, Column> &out, const char *prefix, const fj::PseudoJet *sj, std::size_t i) {
  const std::string p(prefix);
  out[p + "_pt"][i] = sj ? sj->pt() : 0.0;
  out[p + "_eta"][i] = sj ? sj->pseudorapidity() : 0.0;
  out[p + "_phi"][i] = sj ? sj->phi_std() : 0.0;
  out[p + "_mass"][i] = sj ? std::max(sj->m(), 0.0) : 0.0;
}

}  // namespace

py::dict substructure(py::array_t<double, py::array::c_style | py::array::forcecast> px,
                      py::array_t<double, py::array::c_style | py::array::forcecast> py_,
                      py::array_t<double, py::array::c_style | py::array::forcecast> pz,
                      py::array_t<double, py::array::c_style | py::array::forcecast> e,
                      py::array_t<long long, py::array::c_style | py::array::forcecast> offsets, double sd_beta,
                      double sd_zcut, double sd_r0, double tau_beta, double tau_r0, double ecf_beta) {
  const auto n_jets = static_cast<std::size_t>(offsets.size() > 0 ? offsets.size() - 1 : 0);
  const double *PX = px.data(), *PY = py_.data(), *PZ = pz.data(), *E = e.data();
  const long long *OFF = offsets.data();
  if (px.size() != py_.size() || px.size() != pz.size() || px.size() != e.size())
    throw std::invalid_argument("px, py, pz and E must have the same length");
  if (n_jets > 0 && (OFF[0] != 0 || OFF[n_jets] != px.size()))
    throw std::invalid_argument("offsets must start at 0 and end at the number of constituents");

  std::map<std::string, Column> out;
  for (const char *name : kColumns) out[name] = Column(n_jets, 0.0);

  // C/A with the largest radius FastJet allows: every constituent ends in one jet, as contrib::Recluster does
  // for SoftDrop; the grooming radius is SoftDrop's R0.
  const fj::JetDefinition ca(fj::cambridge_algorithm, fj::JetDefinition::max_allowable_R);
  const fjc::SoftDrop softdrop(sd_beta, sd_zcut, sd_r0);
  // N-subjettiness with OnePass_KT_Axes: the starting axes are the exclusive kT jets (KT_Axes' own definition),
  // clustered once per jet and shared by tau1..tau4, then refined by the same one-pass minimisation
  // (OnePass_Manual_Axes); identical to four OnePass_KT_Axes evaluations at a quarter of the clustering.
  const fj::JetDefinition kt(fj::kt_algorithm, fj::JetDefinition::max_allowable_R, fj::E_scheme, fj::Best);
  std::vector<fjc::Nsubjettiness> taus;
  for (int n = 1; n <= 4; ++n)
    taus.emplace_back(n, fjc::OnePass_Manual_Axes(), fjc::NormalizedMeasure(tau_beta, tau_r0));
  const fjc::EnergyCorrelatorN2 n2(ecf_beta);
  const fjc::EnergyCorrelatorD2 d2(ecf_beta);

  std::vector<fj::PseudoJet> particles;
  {
    py::gil_scoped_release release;  // pure C++ below: let other Python threads run
    for (std::size_t i = 0; i < n_jets; ++i) {
      particles.clear();
      for (long long k = OFF[i]; k < OFF[i + 1]; ++k) particles.emplace_back(PX[k], PY[k], PZ[k], E[k]);
      if (particles.size() < 2) {
        // documented fallback: the groomed jet is the jet, one prong, zero substructure
        if (particles.size() == 1) {
          const fj::PseudoJet &p = particles[0];
          out["msd"][i] = std::max(p.m(), 0.0);
          out["sd_pt"][i] = p.pt();
          out["sd_eta"][i] = p.pseudorapidity();
          out["sd_phi"][i] = p.phi_std();
          out["sd_n_constituents"][i] = 1;
          fill_subjet(out, "sj1", &p, i);
        }
        continue;
      }
      fj::ClusterSequence cs(particles, ca);
      const std::vector<fj::PseudoJet> jets = cs.inclusive_jets();
      const fj::PseudoJet &jet = jets.at(0);  // one jet by construction (R = max allowable)
      const fj::PseudoJet groomed = softdrop(jet);
      out["msd"][i] = std::max(groomed.m(), 0.0);
      out["sd_pt"][i] = groomed.pt();
      out["sd_eta"][i] = groomed.pseudorapidity();
      out["sd_phi"][i] = groomed.phi_std();
      out["sd_n_constituents"][i] = static_cast<double>(groomed.constituents().size());
      const bool two_prong = groomed.has_pieces() && groomed.pieces().size() == 2;
      out["sd_two_prong"][i] = two_prong ? 1.0 : 0.0;
      if (two_prong) {
        std::vector<fj::PseudoJet> prongs = fj::sorted_by_pt(groomed.pieces());
        fill_subjet(out, "sj1", &prongs[0], i);
        fill_subjet(out, "sj2", &prongs[1], i);
        out["sj_z"][i] = groomed.structure_of<fjc::SoftDrop>().symmetry();
        out["sj_dr"][i] = groomed.structure_of<fjc::SoftDrop>().delta_R();
      } else {
        fill_subjet(out, "sj1", &groomed, i);
      }
      const fj::ClusterSequence kt_cs(jet.constituents(), kt);
      for (int n = 1; n <= 4; ++n) {
        // with N or fewer particles every particle is an axis: tau_N = 0
        if (particles.size() <= static_cast<std::size_t>(n)) continue;
        taus[n - 1].setAxes(kt_cs.exclusive_jets(n));
        out["tau" + std::to_string(n)][i] = finite_or(taus[n - 1](jet), 0.0);
      }
      // N2 and D2 on the groomed jet, as CMS computes n2b1; 0 when it holds a single particle (0 / 0)
      if (groomed.constituents().size() >= 2) {
        out["n2"][i] = finite_or(n2(groomed), 0.0);
        out["d2"][i] = finite_or(d2(groomed), 0.0);
      }
    }
  }

  py::dict result;
  for (auto &kv : out) {
    py::array_t<double> arr(static_cast<py::ssize_t>(kv.second.size()));
    std::copy(kv.second.begin(), kv.second.end(), arr.mutable_data());
    result[py::str(kv.first)] = arr;
  }
  return result;
}

PYBIND11_MODULE(_fjcontrib, m) {
  m.doc() = "FastJet + fastjet-contrib substructure (SoftDrop, Nsubjettiness, EnergyCorrelator) for many jets";
  m.def("substructure", &substructure, py::arg("px"), py::arg("py"), py::arg("pz"), py::arg("E"),
        py::arg("offsets"), py::arg("sd_beta"), py::arg("sd_zcut"), py::arg("sd_r0"), py::arg("tau_beta"),
        py::arg("tau_r0"), py::arg("ecf_beta"));
  m.attr("fastjet_version") = fj::fastjet_version_string();
  // the fastjet wheel whose libraries this was compiled against: used only when that same wheel is installed
  m.attr("built_with_fastjet") = XAUGCOL_FASTJET_WHEEL;
}
