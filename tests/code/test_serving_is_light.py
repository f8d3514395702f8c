"""The serving code must run in the light `serve` install: importing it pulls in no training stack."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.code


def test_serving_imports_no_torch_mlflow_pandas_or_plotting():
    probe = (
        "import sys\n"
        "from farga.app import create_app\n"
        "import farga.symbols.service\n"
        "import farga.fillmask.service\n"
        "heavy = ('torch', 'mlflow', 'matplotlib', 'sklearn', 'pandera', 'dvc', 'onnx', 'pandas')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
