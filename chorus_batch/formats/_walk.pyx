# cython: language_level=3, boundscheck=False, wraparound=False
"""``xml.Fields``' walk in C, over libxml2's nodes through lxml's public C API.

The walk in Python (``xml._walk``) asks lxml for every child it passes: a proxy object and its
``{namespace}local`` tag, made as a new string each time, then a dictionary lookup with it. Most
children are passed over: here their names are compared in C, and a proxy is made only for an
element that a path ends at. The result is the same (the same proxies lxml gives for the same
nodes); ``tests/unit/test_native_walk.py`` compares the two walks.

Built by ``hatch_build.py`` against the lxml of the build; ``xml.py`` uses it only when that is
the lxml it runs with (``BUILT_FOR``), and walks in Python otherwise.
"""

from libc.string cimport strcmp

cimport lxml.includes.etreepublic as cetree
from lxml.includes cimport tree as xtree

cetree.import_lxml__etree()

BUILT_FOR = cetree.LXML_VERSION_STRING.decode()


cdef class Level:
    """One level of a ``Fields`` tree: for each tag, its local name and namespace as bytes (what
    libxml2 holds), the names of the paths that end there (``firsts``: the first element each;
    ``alls``: every element), and the level below (``None`` when no path goes further)."""

    cdef list locals_, hrefs, firsts, alls, below
    cdef Py_ssize_t size


def level(dict tags):
    """The ``Level`` of a ``Fields`` tree (``{"{ns}local": (firsts, alls, below)}``)."""
    cdef Level made = Level()
    made.locals_, made.hrefs, made.firsts, made.alls, made.below = [], [], [], [], []
    for tag, (firsts, alls, below) in tags.items():
        href, _, local = tag[1:].partition("}")
        made.locals_.append(local.encode())
        made.hrefs.append(href.encode())
        made.firsts.append(tuple(firsts))
        made.alls.append(tuple(alls))
        made.below.append(level(below) if below else None)
    made.size = len(made.locals_)
    return made


def walk(cetree._Element node, Level tags, dict found, dict every):
    """``xml._walk``: the children of ``node`` in document order, the first element each path of
    ``found`` ends at, every element of the paths of ``every``."""
    _walk(node._doc, node._c_node, tags, found, every)


cdef int _walk(cetree._Document doc, xtree.xmlNode* parent, Level tags, dict found, dict every) except -1:
    cdef xtree.xmlNode* child = parent.children
    cdef const char* href
    cdef Py_ssize_t i
    while child is not NULL:
        if child.type == xtree.XML_ELEMENT_NODE:
            href = <const char*>cetree._getNs(child)
            if href is not NULL:
                for i in range(tags.size):
                    if strcmp(<const char*>child.name, <bytes>tags.locals_[i]) != 0:
                        continue
                    if strcmp(href, <bytes>tags.hrefs[i]) != 0:
                        continue
                    _found(doc, child, <tuple>tags.firsts[i], <tuple>tags.alls[i], found, every)
                    below = tags.below[i]
                    if below is not None:
                        _walk(doc, child, <Level>below, found, every)
                    break
        child = child.next
    return 0


cdef int _found(
    cetree._Document doc, xtree.xmlNode* node, tuple firsts, tuple alls, dict found, dict every
) except -1:
    if not firsts and not alls:
        return 0
    element = cetree.elementFactory(doc, node)
    for name in firsts:
        found.setdefault(name, element)
    for name in alls:
        (<list>every[name]).append(element)
    return 0
