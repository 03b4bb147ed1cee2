"""The method registry against the config's lists: the config layer (below the engine) names the methods and
which of them train on two views; the registered classes say the same."""

from pretrain.config.defaults import METHODS, TWO_VIEW_METHODS
from pretrain.engine.method import METHOD_REGISTRY, method_class


def test_the_configs_method_lists_are_the_registered_classes():
    classes = {cls.name: cls for _, cls in METHOD_REGISTRY}
    assert sorted(classes) == sorted(METHODS)
    assert sorted(name for name, cls in classes.items() if cls.views == 2) == sorted(TWO_VIEW_METHODS)
    assert all(method_class(name) is cls for name, cls in classes.items())
