"""
Learning-curve comparisons of CoSyNE against rl_zoo3's tuned algorithms (``python -m sb3_cosyne.compare``).

Needs the ``compare`` extra (rl_zoo3, sb3-contrib, matplotlib).
"""
