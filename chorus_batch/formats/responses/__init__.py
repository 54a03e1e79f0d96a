"""Order responses chorus-batch emits toward the issuer of an order, in the order's syntax.

One module per writer, each registering itself with ``formats.registry`` (a ``ResponseWriter``):
``ubl`` (UBL 2.1 OrderResponse), ``orderx`` (Order-X 231); ``common`` holds what they share.
``formats.response_writer(syntax)`` gives the writer for orders of a syntax.
"""

from . import orderx, ubl  # noqa: F401 -- each registers its writer
