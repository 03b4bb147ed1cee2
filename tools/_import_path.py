"""Imported first by every tool, so that ``import pretrain`` finds the package, not ``tools/pretrain.py``.

Python puts a script's own folder first on ``sys.path``, and this folder holds ``pretrain.py`` (the
README's ``python tools/pretrain.py``): left there, ``import pretrain`` in any tool would load that
script. So the package is imported here with this folder off the path; later imports of it and
its modules find it in ``sys.modules``. The folder then goes back at the end of the path, because a
process pool's spawned worker re-runs the tool's top level with the tool's ``sys.path``, and must find
this module again. Tools do not import each other (shared code lives in ``pretrain/`` and
``detection/``). One guard here, instead of a ``sys.path`` line in each tool, is why every tool
starts with ``import _import_path``.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
import pretrain  # noqa: E402, F401  (the package, while nothing here can shadow it)

sys.path.append(_HERE)
