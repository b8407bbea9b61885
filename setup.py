"""Which packages and files a wheel carries; everything else is in pyproject.toml.

The site's templates/ and static/ stay at the top of the checkout, where `make run`, the
tests and everyone editing pages find them. A wheel (`pip install .`) carries them inside
the studio package, as studio/templates and studio/static, so an installed site works from
any directory: studio.settings looks there first. pyproject.toml alone cannot both discover
the packages and map folders from outside them into one, hence this file.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
SHIPPED = {"studio.templates": "templates", "studio.static": "static"}


def data_packages() -> list[str]:
    """studio.templates, studio.templates.generations, …: setuptools wants every folder of
    data listed as a package of its own."""
    names = []
    for package, folder in SHIPPED.items():
        root = HERE / folder
        for path in sorted([root, *(sub for sub in root.rglob("*") if sub.is_dir())]):
            names.append(".".join([package, *path.relative_to(root).parts]))
    return names


setup(
    packages=[
        *find_packages(include=["studio", "studio.*", "generations", "generations.*"]),
        *data_packages(),
    ],
    package_dir=SHIPPED,
    package_data={name: ["*"] for name in data_packages()},
)
