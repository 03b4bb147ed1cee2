"""Where a frozen model looks: nearest neighbours, class-score gradients in pixel space, and a localization score.

The paper's Section 3 diagnosis as numbers; ``pretrain.visualize`` draws the figures from them.
"""
