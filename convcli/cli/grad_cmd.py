"""``convcli grad`` and ``convcli fit``: gradients of a loss with respect to a kernel."""
