"""Placeholder, replaced below."""
def export_via(via, graph, opset):
    raise NotImplementedError
