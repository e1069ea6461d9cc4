"""``perfmon``: the command-line client of the perfmon control plane, for CI pipelines.

An HTTP client of the documented APIs (requests + rich); it never imports
Django or the server's code, so it installs alone (``pip install perfmon[cli]``).
"""

__version__ = "0.1.0"
