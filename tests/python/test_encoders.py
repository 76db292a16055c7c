"""The image encoders' conversion (issue 15), checked independently of fovea: an independent NumPy
forward pass (float64, batch norms unfolded) against ONNX Runtime within 1e-4, and ImageNet top-5 of
../shared/media's images (messi5.jpg names a soccer ball), by `scripts/encoder_models.py check`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_encoders_match_numpy_and_name_the_ball():
    o = subprocess.run([sys.executable, str(ROOT / "scripts/encoder_models.py"), "check"], capture_output=True, text=True)
    print(o.stdout)
    assert o.returncode == 0, o.stdout + o.stderr
    assert o.stdout.count("max |diff|") == 2 and "soccer ball" in o.stdout
