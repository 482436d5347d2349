"""Finish the generated project (cookiecutter runs this inside the new project folder).

The template holds no dotfiles and no empty folders: wheels drop them, and a `.gitignore`
inside the template would hide the template's own data files from the repository that
ships it. So they are made here.
"""

from pathlib import Path

DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)

root = Path.cwd()
(root / "gitignore").replace(root / ".gitignore")
for folder in [root / "data" / layer for layer in DATA_LAYERS] + [root / "conf" / "local"]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitkeep").touch()
