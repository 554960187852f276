"""The forms (business objects) the K3 Cloud emulator knows: their fields, tables and captions.

Field keys are spelled as K3 spells them (``FCUSTID``, ``FNumber``, ``FTAXREGISTERCODE``,
``FSaleOrderEntry``...). Keys are matched case-insensitively, as K3 does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["FORMS", "REFS", "Form", "FormField", "Kind", "RefTarget"]


class Kind(StrEnum):
    """How a field is stored, compared and written."""

    TEXT = "text"
    INT = "int"
    DECIMAL = "decimal"
    DATETIME = "datetime"
    """A moment with milliseconds, server local time (``2026-11-25T10:00:00.123``)."""
    DATE = "date"
    """A day, returned as ``2026-11-25T00:00:00``."""
    REF = "ref"
    """A base-data reference: stored as the internal id of the referenced record."""


@dataclass(frozen=True)
class RefTarget:
    """A form base-data references point at."""

    form_id: str
    table: str
    pk: str
    caption: str


REFS: dict[str, RefTarget] = {
    "org": RefTarget("ORG_Organizations", "ref_org", "FORGID", "组织"),
    "currency": RefTarget("BD_Currency", "ref_currency", "FCURRENCYID", "币别"),
    "unit": RefTarget("BD_UNIT", "ref_unit", "FUNITID", "计量单位"),
    "customer": RefTarget("BD_Customer", "bd_customer", "FCUSTID", "客户"),
    "material": RefTarget("BD_MATERIAL", "bd_material", "FMATERIALID", "物料"),
}


@dataclass(frozen=True)
class FormField:
    """One field of a form."""

    key: str
    caption: str
    kind: Kind = Kind.TEXT
    target: str | None = None
    """For a reference: the key of :data:`REFS` it points at."""
    entry: bool = False
    """Whether the field belongs to the entry (line) table."""
    required: bool = False
    writable: bool = True
    """False for fields the server sets (ids, dates, statuses, computed amounts)."""
    sub: str | None = None
    """The sub-entity that holds the field in a Save model (``FSaleOrderFinance``)."""
    multilang: bool = False
    """A multi-language text: View shows it as ``[{"Key": 2052, "Value": ...}]``."""

    @property
    def sql_type(self) -> str:
        """The SQLite column type."""
        if self.kind in (Kind.INT, Kind.REF):
            return "INTEGER"
        if self.kind is Kind.DECIMAL:
            return "REAL"
        return "TEXT"


@dataclass(frozen=True)
class Form:
    """A business object: its header table and, for bills, its entry table."""

    form_id: str
    caption: str
    table: str
    pk: str
    number: str
    number_rule: str
    """The coding rule of new numbers, e.g. ``CUST{:04d}``."""
    fields: tuple[FormField, ...]
    entry_key: str | None = None
    entry_table: str | None = None
    entry_pk: str = "FEntryID"
    by_key: dict[str, FormField] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_key.update({f.key.lower(): f for f in self.fields})

    def get(self, key: str) -> FormField | None:
        """The field with this key (any case), or None."""
        return self.by_key.get(key.lower())

    @property
    def head_fields(self) -> tuple[FormField, ...]:
        """The header fields."""
        return tuple(f for f in self.fields if not f.entry)

    @property
    def entry_fields(self) -> tuple[FormField, ...]:
        """The entry (line) fields, the entry id excepted."""
        return tuple(f for f in self.fields if f.entry and f.key != self.entry_pk)


_STATUS = (
    FormField("FDocumentStatus", "数据状态", writable=False),
    FormField("FForbidStatus", "禁用状态", writable=False),
    FormField("FCreateDate", "创建日期", Kind.DATETIME, writable=False),
    FormField("FModifyDate", "修改日期", Kind.DATETIME, writable=False),
)

CUSTOMER = Form(
    form_id="BD_Customer",
    caption="客户",
    table="bd_customer",
    pk="FCUSTID",
    number="FNumber",
    number_rule="CUST{:04d}",
    fields=(
        FormField("FCUSTID", "实体主键", Kind.INT, writable=False),
        FormField("FNumber", "客户编码"),
        FormField("FName", "客户名称", required=True, multilang=True),
        FormField("FShortName", "简称", multilang=True),
        FormField("FTEL", "联系电话"),
        FormField("FFAX", "传真"),
        FormField("FADDRESS", "通讯地址"),
        FormField("FWEBSITE", "公司网址"),
        FormField("FTAXREGISTERCODE", "纳税登记号"),
        FormField("FPROVINCIAL", "省份"),
        FormField("FCOUNTRY", "国家"),
        FormField("FDescription", "描述", multilang=True),
        FormField("FCreateOrgId", "创建组织", Kind.REF, "org"),
        FormField("FUseOrgId", "使用组织", Kind.REF, "org"),
        FormField("FTRADINGCURRID", "结算币别", Kind.REF, "currency"),
        *_STATUS,
    ),
)

MATERIAL = Form(
    form_id="BD_MATERIAL",
    caption="物料",
    table="bd_material",
    pk="FMATERIALID",
    number="FNumber",
    number_rule="WL{:05d}",
    fields=(
        FormField("FMATERIALID", "实体主键", Kind.INT, writable=False),
        FormField("FNumber", "编码"),
        FormField("FName", "名称", required=True, multilang=True),
        FormField("FSpecification", "规格型号", multilang=True),
        FormField("FBaseUnitId", "基本单位", Kind.REF, "unit", sub="SubHeadEntity"),
        FormField("FDescription", "描述", multilang=True),
        FormField("FCreateOrgId", "创建组织", Kind.REF, "org"),
        FormField("FUseOrgId", "使用组织", Kind.REF, "org"),
        *_STATUS,
    ),
)

SALE_ORDER = Form(
    form_id="SAL_SaleOrder",
    caption="销售订单",
    table="sal_saleorder",
    pk="FID",
    number="FBillNo",
    number_rule="XSDD{:06d}",
    fields=(
        FormField("FID", "实体主键", Kind.INT, writable=False),
        FormField("FBillNo", "单据编号"),
        FormField("FDate", "日期", Kind.DATE),
        FormField("FCustId", "客户", Kind.REF, "customer", required=True),
        FormField("FSaleOrgId", "销售组织", Kind.REF, "org"),
        FormField("FNote", "备注"),
        FormField("FSettleCurrId", "结算币别", Kind.REF, "currency", sub="FSaleOrderFinance"),
        FormField(
            "FBillAllAmount", "价税合计", Kind.DECIMAL, writable=False, sub="FSaleOrderFinance"
        ),
        FormField("FBillTaxAmount", "税额", Kind.DECIMAL, writable=False, sub="FSaleOrderFinance"),
        FormField("FDocumentStatus", "单据状态", writable=False),
        FormField("FCreateDate", "创建日期", Kind.DATETIME, writable=False),
        FormField("FModifyDate", "最后修改日期", Kind.DATETIME, writable=False),
        FormField("FEntryID", "实体主键", Kind.INT, entry=True),
        FormField("FSeq", "序号", Kind.INT, entry=True, writable=False),
        FormField("FMaterialId", "物料编码", Kind.REF, "material", entry=True, required=True),
        FormField("FQty", "销售数量", Kind.DECIMAL, entry=True),
        FormField("FPrice", "单价", Kind.DECIMAL, entry=True),
        FormField("FTaxPrice", "含税单价", Kind.DECIMAL, entry=True),
        FormField("FEntryTaxRate", "税率%", Kind.DECIMAL, entry=True),
        FormField("FAmount", "金额", Kind.DECIMAL, entry=True, writable=False),
        FormField("FAllAmount", "价税合计", Kind.DECIMAL, entry=True, writable=False),
        FormField("FEntryNote", "备注", entry=True),
    ),
    entry_key="FSaleOrderEntry",
    entry_table="sal_saleorderentry",
)

FORMS: dict[str, Form] = {form.form_id.lower(): form for form in (CUSTOMER, MATERIAL, SALE_ORDER)}
"""The forms by lower-case form id (K3 form ids are case-insensitive)."""
