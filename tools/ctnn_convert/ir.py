"""The network a converter builds: ctnn layers, composites, and the graph they come from.

A front end (torch_front, onnx_front) turns its source into a Graph: one input, nodes that each
read one value and apply ctnn layers to it, additions of two values and concatenations. build()
recognises the sums (Residual) and concatenations (Concat) of paths from one value and returns
the nested Chain of ctnn layers, which emit.py writes as a header and a safetensors file.
"""


class Refused(Exception):
    """The source holds something ctnn cannot compute exactly; the message says what and why."""

    def __init__(self, where, what, why):
        super().__init__(f"{where} ({what}): {why}")
        self.where, self.what, self.why = where, what, why


class Layer:
    """One ctnn layer: spec is its C++ type (e.g. "ctnn::Conv2D<32, 3>"), tensors maps the names
    of its tensors in a PyTorch state_dict of the layer ("weight", "bias_ih_l0", ...) to float32
    numpy arrays in PyTorch's layout, source names the module or node it comes from."""

    def __init__(self, spec, source, tensors=None):
        self.spec, self.source, self.tensors = spec, source, dict(tensors or {})


class Chain:
    def __init__(self, parts):
        self.parts = list(parts)


class Residual:
    def __init__(self, main, shortcut):
        self.main, self.shortcut = main, shortcut  # Chains; an empty shortcut is Identity


class Concat:
    def __init__(self, branches):
        self.branches = list(branches)  # Chains; an empty one is Identity


class Node:
    """op "layer" (one input; layers is a list of Layer, or a callable giving it once the uses of
    the value are known), "add" (two inputs) or "cat" (inputs joined along channels/features)."""

    def __init__(self, gid, op, inputs, layers=None, source=""):
        self.gid, self.op, self.inputs, self.layers, self.source = gid, op, list(inputs), layers, source


class Graph:
    def __init__(self):
        self.nodes = []  # in topological order; node gid k produces value k; value 0 is the input
        self.output = None

    def add(self, op, inputs, layers=None, source=""):
        gid = len(self.nodes) + 1
        self.nodes.append(Node(gid, op, inputs, layers, source))
        return gid

    def node(self, gid):
        return self.nodes[gid - 1]


def build(graph):
    """The Chain computing graph.output from the input. Refused when the graph is not made of
    chains, sums of two paths from one value, and concatenations of paths from one value."""
    if graph.output is None:
        raise Refused("output", "graph", "the model returns nothing ctnn can compute")
    if graph.output == 0:
        raise Refused("output", "graph", "the model returns its input unchanged")
    nodes = {n.gid: n for n in graph.nodes}
    # Only what the output depends on counts.
    live, stack = set(), [graph.output]
    while stack:
        g = stack.pop()
        if g == 0 or g in live:
            continue
        live.add(g)
        stack.extend(nodes[g].inputs)
    for n in graph.nodes:
        if n.gid in live and callable(n.layers):
            n.layers = n.layers()
    consumers = {0: []}
    for n in graph.nodes:
        consumers.setdefault(n.gid, [])
        if n.gid in live:
            for i in n.inputs:
                consumers[i].append(n.gid)

    def ancestors(g):
        seen, stack = set(), [g]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            if x != 0:
                stack.extend(nodes[x].inputs)
        return seen

    def chain(start, end, scope):
        """The layers from value start to value end, using only the nodes in scope."""
        parts, v = [], start
        while v != end:
            cons = [c for c in consumers[v] if c in scope]
            if not cons:
                raise Refused(_where(nodes, end), "graph", "a value is not computed from the input")
            if len(cons) == 1 and nodes[cons[0]].op == "layer":
                n = nodes[cons[0]]
                parts.extend(n.layers)
                v = n.gid
                continue
            merge = _merge_point(nodes, consumers, v, scope)
            m = nodes[merge]
            if m.op not in ("add", "cat"):
                raise Refused(m.source, "graph", "paths that part from one value must meet in a "
                              "sum (Residual) or a concatenation (Concat)")
            if len(set(m.inputs)) != len(m.inputs):
                raise Refused(m.source, m.op, "the same value is used twice in a sum or "
                              "concatenation; ctnn has no such layer")
            anc = [ancestors(i) & scope for i in m.inputs]
            below = _descendants(consumers, v, scope)
            paths = [(a & below) | ({i} if i != v else set()) for a, i in zip(anc, m.inputs)]
            for a in range(len(paths)):
                for b in range(a + 1, len(paths)):
                    if paths[a] & paths[b]:
                        raise Refused(m.source, m.op, "its paths share a layer; ctnn's Residual "
                                      "and Concat take paths that meet only at their ends")
            used = set().union(*paths) | {merge}
            for g in used - {merge}:
                for c in consumers[g]:
                    if c in scope and c not in used:
                        raise Refused(nodes[c].source, "graph", "a value inside a Residual or "
                                      "Concat is used outside it")
            subs = [chain(v, i, p) for i, p in zip(m.inputs, paths)]
            if m.op == "add":
                if len(subs) != 2:
                    raise Refused(m.source, "add", "only sums of two paths are a Residual")
                main, short = subs
                if not main.parts or (short.parts and len(short.parts) > len(main.parts)):
                    main, short = short, main
                parts.append(Residual(main, short))
            else:
                parts.append(Concat(subs))
            v = merge
        return Chain(parts)

    scope = ancestors(graph.output) - {0}
    return chain(0, graph.output, scope)


def _where(nodes, g):
    return nodes[g].source if g in nodes else "input"


def _descendants(consumers, v, scope):
    seen, stack = set(), [v]
    while stack:
        x = stack.pop()
        for c in consumers[x]:
            if c in scope and c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def _merge_point(nodes, consumers, v, scope):
    """The first node after value v through which every path from v passes (v's immediate
    post-dominator within scope), found by walking the nodes in topological order."""
    below = _descendants(consumers, v, scope)
    pending = {v: len([c for c in consumers[v] if c in scope])}
    for n in sorted(below):
        node = nodes[n]
        for i in node.inputs:
            if i in pending:
                pending[i] -= 1
                if pending[i] == 0:
                    del pending[i]
        out = len([c for c in consumers[n] if c in scope])
        if not pending:
            return n
        if out:
            pending[n] = out
    raise Refused(_where(nodes, v), "graph", "the paths from this value never meet again")
