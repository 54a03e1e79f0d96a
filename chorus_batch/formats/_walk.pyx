# cython: language_level=3, boundscheck=False, wraparound=False
"""Three steps of reading a document in C, over libxml2's nodes through lxml's public C API:
``xml.Fields``' walk (``walk``), the parties' cache key of ``common._cached`` (``key``) and the
currencies of a document's amounts (``attribute_values``).

The walk in Python (``xml._walk``) asks lxml for every child it passes: a proxy object and its
``{namespace}local`` tag, made as a new string each time, then a dictionary lookup with it. Most
children are passed over: here their names are compared in C, and a proxy is made only for an
element that a path ends at. Each step gives what its Python gives (the same proxies lxml gives
for the same nodes); ``tests/unit/test_xml_fields.py`` and ``test_party_cache_key.py`` compare
them.

Built by ``hatch_build.py`` against the lxml of the build; ``xml.py`` uses it only when that is
the lxml it runs with (``BUILT_FOR``), and the Python steps run otherwise.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, strcmp, strlen

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


# -- the parties' cache key ---------------------------------------------------------------------


def key(cetree._Element node):
    """Bytes equal for two elements when everything a party is read from is equal: the whole
    subtree (names, namespaces with their prefixes and declarations, attributes, texts,
    comments...), the element's place as ``getpath`` writes it (each ancestor's name, prefix
    and rank, counted as libxml2's ``xmlGetNodePath`` counts it: ``_rank``) and the root's
    namespace declarations (the prefixes of a path written with them). Each part is written
    with its length: two different inputs never give the same bytes. Several times cheaper than
    serialising the subtree (``etree.tostring``), ``getpath`` and the root's ``nsmap``."""
    cdef Buffer out
    out.data, out.size, out.room = NULL, 0, 0
    cdef xtree.xmlNode* root = node._c_node
    cdef xtree.xmlNode* up = root
    try:
        _subtree(&out, root)
        while up is not NULL and up.type == xtree.XML_ELEMENT_NODE:
            _put(&out, b"U", up.name)
            _put_ns(&out, up.ns)
            _rank(&out, up)
            root = up
            up = up.parent
        _declarations(&out, root.nsDef)
        return PyBytes_FromStringAndSize(out.data, out.size)
    finally:
        free(out.data)


cdef struct Buffer:
    char* data
    size_t size
    size_t room


cdef int _put(Buffer* out, char tag, const xtree.const_xmlChar* text) except -1:
    """``tag``, then ``text``'s length (one byte below 255, else 255 and eight bytes) and bytes;
    ``tag`` with its high bit set and nothing more for no text."""
    cdef size_t length = strlen(<const char*>text) if text is not NULL else 0
    cdef size_t need = out.size + 2 + sizeof(size_t) + length
    cdef char* grown
    if need > out.room:
        grown = <char*>realloc(out.data, need * 2)
        if grown is NULL:
            raise MemoryError()
        out.data, out.room = grown, need * 2
    out.data[out.size] = tag
    out.size += 1
    if text is NULL:
        out.data[out.size - 1] = tag | 0x80
        return 0
    if length < 255:
        out.data[out.size] = <char>length
        out.size += 1
    else:
        out.data[out.size] = <char>255
        memcpy(out.data + out.size + 1, &length, sizeof(size_t))
        out.size += 1 + sizeof(size_t)
    memcpy(out.data + out.size, text, length)
    out.size += length
    return 0


cdef int _put_ns(Buffer* out, xtree.xmlNs* ns) except -1:
    if ns is NULL:
        return _put(out, b"N", NULL)
    _put(out, b"N", ns.href)
    return _put(out, b"n", ns.prefix)


cdef int _declarations(Buffer* out, xtree.xmlNs* ns) except -1:
    while ns is not NULL:
        _put(out, b"P", ns.prefix)
        _put(out, b"H", ns.href)
        ns = ns.next
    return 0


cdef bint _counted(xtree.xmlNode* other, xtree.xmlNode* node, bint generic):
    """Whether ``xmlGetNodePath`` counts the sibling ``other`` in ``node``'s rank: any element
    when ``node`` is in a default namespace (its step is then ``*``), else an element of the
    same name whose namespace has the same prefix (or is the same, or none for both)."""
    if other.type != xtree.XML_ELEMENT_NODE:
        return False
    if generic:
        return True
    if strcmp(<const char*>other.name, <const char*>node.name) != 0:
        return False
    if other.ns is node.ns:
        return True
    if other.ns is NULL or node.ns is NULL:
        return False
    if other.ns.prefix is NULL or node.ns.prefix is NULL:
        return other.ns.prefix is node.ns.prefix
    return strcmp(<const char*>other.ns.prefix, <const char*>node.ns.prefix) == 0


cdef int _rank(Buffer* out, xtree.xmlNode* node) except -1:
    """``node``'s index in its ``getpath`` step: 0 when it is the only one counted, else its
    rank from 1 among the siblings counted (``_counted``)."""
    cdef bint generic = node.ns is not NULL and node.ns.prefix is NULL
    cdef size_t rank = 0
    cdef xtree.xmlNode* other = node.prev
    while other is not NULL:
        rank += _counted(other, node, generic)
        other = other.prev
    if rank == 0:
        other = node.next
        while other is not NULL and not _counted(other, node, generic):
            other = other.next
        rank = 1 if other is not NULL else 0
    else:
        rank += 1
    cdef char digits[24]
    cdef int length = 0
    while True:
        digits[length] = <char>(48 + rank % 10)
        length += 1
        rank //= 10
        if rank == 0:
            break
    digits[length] = 0
    return _put(out, b"R", <const xtree.const_xmlChar*>digits)


cdef int _subtree(Buffer* out, xtree.xmlNode* node) except -1:
    cdef xtree.xmlAttr* attribute
    cdef xtree.xmlNode* child
    if node.type == xtree.XML_ELEMENT_NODE:
        _put(out, b"E", node.name)
        _put_ns(out, node.ns)
        _declarations(out, node.nsDef)
        attribute = node.properties
        while attribute is not NULL:
            _put(out, b"A", attribute.name)
            _put_ns(out, attribute.ns)
            child = attribute.children
            while child is not NULL:
                _subtree(out, child)
                child = child.next
            _put(out, b"a", NULL)
            attribute = attribute.next
        child = node.children
        while child is not NULL:
            _subtree(out, child)
            child = child.next
        _put(out, b"e", NULL)
    else:  # text, CDATA, comment, processing instruction, entity reference: its kind, name, content
        _put(out, <char>(48 + <int>node.type), node.name)
        _put(out, b"C", node.content)
    return 0


# -- the currencies of a document's amounts --------------------------------------------------------


def attribute_values(cetree._Element node, str name):
    """The values of every attribute ``name`` (in no namespace) of ``node`` and the elements
    under it, in document order, as ``node.xpath("//@name")`` gives them from the root: without
    a node-set to build and sort. ``None`` when one of them holds more than text (an entity
    reference), which only the XPath reads as libxml2 does."""
    cdef bytes wanted = name.encode()
    cdef list values = []
    cdef xtree.xmlNode* top = node._c_node
    cdef xtree.xmlNode* at = top
    cdef xtree.xmlAttr* attribute
    while at is not NULL:
        if at.type == xtree.XML_ELEMENT_NODE:
            attribute = at.properties
            while attribute is not NULL:
                if attribute.ns is NULL and strcmp(<const char*>attribute.name, wanted) == 0:
                    value = _text_of(attribute.children)
                    if value is None:
                        return None
                    values.append(value)
                attribute = attribute.next
            if at.children is not NULL:
                at = at.children
                continue
        while at is not top and at.next is NULL:
            at = at.parent
        if at is top:
            break
        at = at.next
    return values


cdef object _text_of(xtree.xmlNode* child):
    """The text of an attribute's children (``None`` if one is not text)."""
    cdef list parts = []
    while child is not NULL:
        if child.type != xtree.XML_TEXT_NODE:
            return None
        parts.append((<bytes>child.content).decode("utf-8"))
        child = child.next
    return "".join(parts)
