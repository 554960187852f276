"""The mapping language: how an external system's records become CRM records and back
(DESIGN.md section 4, mappings/README.md for the file format).

A mapping is a YAML file, ``mappings/<system>/<entity>.yaml``. :func:`load_mapping` validates it
(every problem is reported with the file, the line and the field) and compiles it once into a
:class:`CompiledMapping`, whose methods the sync engine calls per record: :meth:`to_crm
<CompiledMapping.to_crm>`, :meth:`to_external <CompiledMapping.to_external>` and the rest.
"""

from crm_core.mapping._compiled import (
    CompiledLines,
    CompiledMapping,
    DictLookup,
    Lookup,
    MappedField,
)
from crm_core.mapping._errors import MappingError, MappingFailure
from crm_core.mapping._load import load_mapping
from crm_core.mapping._spec import ConflictRule, DeletePolicy, MergePolicy
from crm_core.mapping._transforms import TRANSFORMS

__all__ = [
    "TRANSFORMS",
    "CompiledLines",
    "CompiledMapping",
    "ConflictRule",
    "DeletePolicy",
    "DictLookup",
    "Lookup",
    "MappedField",
    "MappingError",
    "MappingFailure",
    "MergePolicy",
    "load_mapping",
]
