"""What is sold and billed: products, quotes, orders, contracts, invoices, payments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models._base import (
    CurrencyCode,
    Entity,
    Money,
    Quantity,
    Str64,
    Str255,
    column_default,
)
from crm_core.models._enums import (
    ContractStatus,
    InvoiceStatus,
    OrderStatus,
    PaymentMethod,
    QuoteStatus,
    enum_column,
)
from crm_core.models._types import ExactDecimal

__all__ = [
    "Contract",
    "Invoice",
    "Order",
    "OrderLine",
    "Payment",
    "Product",
    "Quote",
    "QuoteLine",
]


class Product(Entity):
    """Something the company sells, with its list price."""

    __tablename__ = "products"

    sku: Mapped[Str64] = mapped_column(unique=True)
    name: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[Str255 | None]
    unit: Mapped[Str64 | None]
    unit_price: Mapped[Money | None]
    currency: Mapped[CurrencyCode | None]
    tax_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(9, 6))
    is_active: Mapped[bool] = column_default(True)


class Quote(Entity):
    """A priced offer to an account."""

    __tablename__ = "quotes"

    number: Mapped[Str64] = mapped_column(unique=True)
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    opportunity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL")
    )
    status: Mapped[QuoteStatus] = enum_column(QuoteStatus.DRAFT, "quote_status")
    valid_until: Mapped[date | None]
    currency: Mapped[CurrencyCode | None]
    subtotal_amount: Mapped[Money | None]
    tax_amount: Mapped[Money | None]
    total_amount: Mapped[Money | None]


class _ProductLine(Entity):
    """The columns of a line of a quote or an order: a product, how many, at what price."""

    __abstract__ = True

    line_no: Mapped[int]
    product_id: Mapped[UUID | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    description: Mapped[str | None]
    quantity: Mapped[Quantity]
    unit_price: Mapped[Money]
    discount_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(9, 6))
    tax_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(9, 6))
    amount: Mapped[Money]


class QuoteLine(_ProductLine):
    """One product line of a quote."""

    __tablename__ = "quote_lines"
    __table_args__ = (UniqueConstraint("quote_id", "line_no"),)

    quote_id: Mapped[UUID] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"))


class Order(Entity):
    """A confirmed sales order."""

    __tablename__ = "orders"

    number: Mapped[Str64] = mapped_column(unique=True)
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    opportunity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL")
    )
    quote_id: Mapped[UUID | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"))
    status: Mapped[OrderStatus] = enum_column(OrderStatus.DRAFT, "order_status")
    order_date: Mapped[date | None]
    delivery_date: Mapped[date | None]
    currency: Mapped[CurrencyCode | None]
    tax_amount: Mapped[Money | None]
    total_amount: Mapped[Money | None]
    ship_address: Mapped[str | None]
    description: Mapped[str | None]


class OrderLine(_ProductLine):
    """One product line of an order."""

    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "line_no"), Index(None, "product_id"))

    order_id: Mapped[UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))


class Contract(Entity):
    """A signed agreement with an account."""

    __tablename__ = "contracts"

    number: Mapped[Str64] = mapped_column(unique=True)
    title: Mapped[str]
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    opportunity_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("opportunities.id", ondelete="SET NULL")
    )
    order_id: Mapped[UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    document_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL")
    )
    status: Mapped[ContractStatus] = enum_column(ContractStatus.DRAFT, "contract_status")
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    signed_at: Mapped[datetime | None]
    amount: Mapped[Money | None]
    currency: Mapped[CurrencyCode | None]


class Invoice(Entity):
    """A bill sent to an account (发票)."""

    __tablename__ = "invoices"

    number: Mapped[Str64] = mapped_column(unique=True)
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    order_id: Mapped[UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    contract_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("contracts.id", ondelete="SET NULL")
    )
    status: Mapped[InvoiceStatus] = enum_column(InvoiceStatus.DRAFT, "invoice_status")
    issue_date: Mapped[date | None]
    due_date: Mapped[date | None]
    currency: Mapped[CurrencyCode]
    net_amount: Mapped[Money]
    tax_amount: Mapped[Money] = column_default(Decimal(0))
    total_amount: Mapped[Money]


class Payment(Entity):
    """Money received from an account, usually against an invoice."""

    __tablename__ = "payments"

    reference: Mapped[Str255 | None]
    account_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    invoice_id: Mapped[UUID | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[Money]
    currency: Mapped[CurrencyCode]
    paid_at: Mapped[datetime]
    method: Mapped[PaymentMethod] = enum_column(PaymentMethod.BANK_TRANSFER, "payment_method")
