"""Training: the task-agnostic fit and the run dir (:mod:`seqlab.training.loop`).

DESIGN.md sketches this package as ``train/``; it is ``training/`` so that
``seqlab.train(...)``, the function in :mod:`seqlab`, and this package do not compete for
the same attribute name.
"""
