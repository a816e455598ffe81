"""octo: a declarative pipeline language for LLM work at scale.

The installed package maps the repository's top-level folders to subpackages:
``octo.grammar`` (grammar/), ``octo.compiler`` (compiler/), ``octo.stdlib``
(stdlib/), ``octo.runtime`` (runtime/) and ``octo.cli`` (cli/).
"""

__version__ = "0.1.0"
