"""What each figure of a report shows and how to read it, one caption per kind of figure."""

NEGATIVE = (
    "Relevance is signed: positive where an input pushed the tagger's output (its logit) towards signal, "
    "negative where it pushed towards background, so for background jets the most telling inputs are "
    "often negative."
)

CAPTIONS = {
    "guided": "The guided search: left, the AUC of the high-level model at each step (mean and spread over the "
    "seeds) against the black box's band of one standard deviation; right, the high-level model's "
    "average decision ordering with the black box over every signal x background pair of the test "
    "split. Each step adds the EFP with the highest ADO to the black box on the pairs the previous "
    "model ordered differently from it.",
    "inputs": "Input distributions of signal and background, each normalised to unit area, from the processing "
    "histograms: the separation a tagger can learn from each variable alone. The x range covers the "
    "central 99 % of both classes; counts are binned by integer.",
    "roc": "ROC curves, one panel per tagger family: background efficiency (log) against signal efficiency, mean "
    "over the ensemble members with a band of one standard deviation; dashed without, solid with the XAUG "
    "variables, the XAUG-only DNN dotted in every panel as reference. The legend gives the AUC with its "
    "spread; the curves stop at one background jet of the test set.",
    "relevance": "{tagger}, {rule}: mean normalised relevance of each input (per jet divided by the largest absolute "
    "relevance, absolute values summed over pixels or particles, averaged over jets), for signal and "
    "background; error bars are the spread over the ensemble members. Inputs of different kinds "
    "(image or particles summed, XAUG variables one by one) have panels of their own scales.",
    "profiles": "{tagger}, {rule}: mean normalised relevance against the input's value for the most relevant "
    "inputs, points with standard errors; shaded, the input distribution. Binary inputs show two "
    "points. " + NEGATIVE,
    "pairs": "{tagger}, {rule}: the two most relevant XAUG variables against each other; colour is the mean "
    "relevance the pair received in each bin (red: towards signal, blue: towards background), per class.",
    "heatmaps": "{tagger}, {rule}: top, the average jet image of each class (fraction of the jet pT per pixel); "
    "bottom, the mean signed relevance per pixel on one colour scale shared by both classes. " + NEGATIVE,
    "faithfulness": "{tagger}: input-perturbation curves. Each jet loses a growing fraction of its units ({units}), "
    "most relevant first (solid, one colour per explanation method), least relevant first (dashed) "
    "or in a fixed random order (grey dotted); removed pixels become empty, removed particles "
    "padding, removed XAUG variables their training mean. Left, the decision margin (sign of the "
    "logit before removal times the logit, averaged over jets) relative to before removal; right, "
    "the AUC. A faithful explanation makes the solid curve fall below the random one; the score is "
    "the area between them. Bands: spread over the ensemble members.",
    "occlusion": "{tagger}: feature occlusion, as Roy and Neubauer (ICHEP 2022) measure it. Left, each input "
    "feature set to zero after scaling in every jet (for a track or vertex feature in all tracks or "
    "vertices; the image in 3 x 3 blocks) and the AUC lost, x 100 (bars: mean over the ensemble "
    "members, error bars: their spread; colour: the input kind). Middle, the same features' share "
    "of the output score under {rule} (relevance summed over the feature's slots over the logit, "
    "averaged over the jets with weight |logit|; Roy and Neubauer's relevance normalised by the output "
    "score) for signal and background. Right, the same features by their mean normalised relevance "
    "under {rule} against the AUC lost: features far right and at zero are relevant to LRP but not "
    "needed; circled, those also distributed alike in both classes, which act like a bias.",
    "activations": "{tagger}: neuron-activation patterns. Per layer (a row, the input side on top; in brackets the "
    "fraction of its neurons below RNA 0.2) and neuron, the relative neural activity: the neuron's "
    "activation summed over the jets (and their tracks, pairs or particles) of the class, over the "
    "layer's most active neuron; left signal, right background. Dark neurons take little part in "
    "the decisions.",
    "edges": "{tagger}, {rule}: the relevance of ParticleNet's kNN edges, per EdgeConv block (a column), the choice "
    "of neighbours taken as fixed routing (Mokhtar et al., arXiv:2211.09912). Top: the share of the edges' "
    "|relevance| carried by edges within one softdrop prong, between the two prongs and to unclustered particles "
    "(farther than 0.4 from both prongs), for signal and background (error bars: spread over the ensemble "
    "members). Bottom: how that |relevance| divides along the edge length in (eta, phi), members pooled.",
    "edge_examples": "{tagger}, {rule}, first ensemble member: example jets of each class in the (eta, phi) plane "
    "around the jet axis, each particle a dot (area by its pT fraction), with the kNN edges that carry the most "
    "relevance: solid, the first EdgeConv block's (neighbours nearest in eta and phi); dashed, the last block's "
    "(neighbours in the learned feature space); red towards signal, blue towards background, width by |relevance|.",
    "examples": "{tagger}, {rule}, first ensemble member: the relevance of single test jets of each class, per "
    "input. " + NEGATIVE,
}
