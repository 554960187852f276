"""The Kingdee K3 Cloud connector against its emulator: the contract suite, then what is
particular to K3 (both login bodies, the session-lost answer, sale-order lines, entry rows,
View, Delete, FilterString, broken bodies, the command line)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest

import connectors
from connectors._http import RetryPolicy
from connectors.kingdee import KingdeeConnector, create_connector
from connectors.kingdee.client import LOGIN_PATH, service_path
from connectors.kingdee.emulator import KingdeeEmulator
from connectors.testing import ConnectorContract, Fault, read_all
from crm_core.sync.ports import (
    AuthError,
    ConfigurationError,
    Connector,
    PermanentError,
    TransientError,
    connector_types,
)

QUERY = service_path("ExecuteBillQuery")


def connect(emulator: KingdeeEmulator, **overrides: Any) -> KingdeeConnector:
    return create_connector({"base_url": emulator.url, **emulator.credentials, **overrides})


@pytest.fixture
def k3() -> Iterator[KingdeeEmulator]:
    with KingdeeEmulator(seed={"customers": 40, "orders": 12, "materials": 20}) as emulator:
        yield emulator


@pytest.fixture
def session(k3: KingdeeEmulator) -> Iterator[httpx.Client]:
    """A raw HTTP client logged in to the emulator (the cookies are in its jar)."""
    credentials = k3.credentials
    with httpx.Client(base_url=k3.url, timeout=10) as client:
        answer = client.post(
            LOGIN_PATH,
            json={
                "acctID": credentials["acct_id"],
                "username": credentials["username"],
                "password": credentials["password"],
                "lcid": 2052,
            },
        ).json()
        assert answer["LoginResultType"] == 1
        yield client


def call(client: httpx.Client, service: str, form_id: str, data: Any) -> Any:
    return client.post(service_path(service), json={"formid": form_id, "data": data}).json()


def rows(client: httpx.Client, **data: Any) -> Any:
    return client.post(QUERY, json={"data": data}).json()


class TestKingdeeContract(ConnectorContract):
    entity = "BD_Customer"
    edited_field = "FName"

    @pytest.fixture
    def emulator(self) -> Iterator[KingdeeEmulator]:
        with KingdeeEmulator() as emulator:
            yield emulator

    def connect(self, emulator: KingdeeEmulator, **overrides: Any) -> Connector:
        return connect(emulator, **overrides)

    def secrets(self, emulator: KingdeeEmulator) -> list[str]:
        return [emulator.credentials["password"]]

    def seed(
        self, emulator: KingdeeEmulator, count: int, *, same_modified: bool = False
    ) -> list[str]:
        numbers = emulator.add_records(self.entity, count)
        if same_modified:
            emulator.set_modify_date(self.entity, numbers, "2026-01-05T10:00:00.123")
        return numbers

    def edit(self, emulator: KingdeeEmulator, key: str, value: str) -> None:
        emulator.edit(self.entity, key, FName=value)

    def count(self, emulator: KingdeeEmulator) -> int:
        return emulator.count(self.entity)

    def logins(self, emulator: KingdeeEmulator) -> int:
        return emulator.requests["ValidateUser"]

    def new_record(self, n: int) -> dict[str, Any]:
        return {
            "FNumber": f"TB{n:04d}",
            "FName": f"杭州测试{n}号科技有限公司",
            "FTEL": "0571-88886666",
            "FTAXREGISTERCODE": "91330106MA2B0Q1X0N",
            "FTRADINGCURRID.FNumber": "PRE001",
        }

    def bad_record(self, n: int) -> tuple[dict[str, Any], str]:
        return {"FNumber": f"BAD{n:04d}", "FName": ""}, "必填项"

    def inject(self, emulator: KingdeeEmulator, fault: Fault, **params: Any) -> None:
        faults = emulator.faults
        times = params.get("times", 1)
        if fault is Fault.THROTTLE:
            faults.throttle(times, params["retry_after"])
        elif fault is Fault.UNAVAILABLE:
            faults.unavailable(times, params["retry_after"])
        elif fault is Fault.SLOW_WRITE:
            faults.slow(times, params["seconds"], service="BatchSave")
        elif fault is Fault.EXPIRE_SESSIONS:
            faults.expire_sessions()
        elif fault is Fault.MALFORMED:
            faults.malformed(times)
        elif fault is Fault.REJECT:
            faults.reject(self.entity, params["keys"], params["message"])

    def shown(self, connector: Connector) -> list[object]:
        assert isinstance(connector, KingdeeConnector)
        return [connector, connector.config, connector.client, connector.client.http]


# --- login and sessions ---------------------------------------------------------------------


@pytest.mark.parametrize("form", ["parameters", "fields"])
def test_validate_user_takes_both_bodies_and_sets_the_session_cookies(
    k3: KingdeeEmulator, form: str
) -> None:
    credentials = k3.credentials
    body: dict[str, Any]
    if form == "parameters":
        body = {
            "format": 1,
            "useragent": "ApiClient",
            "rid": {},
            "parameters": [
                credentials["acct_id"],
                credentials["username"],
                credentials["password"],
                2052,
            ],
            "timestamp": "2026-11-25",
            "v": "1.0",
        }
    else:
        body = {
            "acctID": credentials["acct_id"],
            "username": credentials["username"],
            "password": credentials["password"],
            "lcid": 2052,
        }
    with httpx.Client(base_url=k3.url) as client:
        response = client.post(LOGIN_PATH, json=body)
        answer = response.json()
        assert answer["LoginResultType"] == 1
        assert answer["IsSuccessByAPI"] is True
        assert answer["KDSVCSessionId"] == response.cookies["kdservice-sessionid"]
        assert response.cookies["ASP.NET_SessionId"]
        assert answer["Context"]["UserName"] == credentials["username"]
        assert rows(client, FormId="BD_Customer", FieldKeys="FNumber", Limit=3) == [
            ["CUST0001"],
            ["CUST0002"],
            ["CUST0003"],
        ]
        refused = client.post(LOGIN_PATH, json={**body, "password": "wrong"}).json()
        if form == "parameters":
            refused = client.post(
                LOGIN_PATH, json={**body, "parameters": [*body["parameters"][:2], "wrong", 2052]}
            ).json()
    assert refused["LoginResultType"] == 0
    assert refused["Message"] == "用户名或密码错误！"
    assert refused["KDSVCSessionId"] is None


def test_calls_without_a_valid_session_get_the_session_lost_answer(k3: KingdeeEmulator) -> None:
    with httpx.Client(base_url=k3.url) as client:
        query = rows(client, FormId="BD_Customer", FieldKeys="FNumber")
        save = call(client, "Save", "BD_Customer", {"Model": {"FName": "x"}})
        client.cookies.set("kdservice-sessionid", "not-a-session")
        unknown = call(client, "View", "BD_Customer", {"Number": "CUST0001"})
    status = query[0][0]["Result"]["ResponseStatus"]
    assert status["ErrorCode"] == 500
    assert status["IsSuccess"] is False
    assert status["Errors"][0]["Message"] == "会话信息已丢失，请重新登录"
    for answer in (save, unknown):
        assert (
            answer["Result"]["ResponseStatus"]["Errors"][0]["Message"]
            == "会话信息已丢失，请重新登录"
        )
    assert k3.count("BD_Customer") == 40


def test_an_idle_session_expires_and_the_connector_logs_in_again() -> None:
    with KingdeeEmulator(seed={"customers": 5}, session_timeout=0.2) as k3:
        connector = connect(k3)
        assert len(read_all(connector, "BD_Customer", None, 100)[0]) == 5
        time.sleep(0.3)
        assert len(read_all(connector, "BD_Customer", None, 100)[0]) == 5
        assert connector.logins == 2
        connector.close()


def test_an_unknown_account_set_is_refused() -> None:
    with KingdeeEmulator() as k3:
        connector = connect(k3, acct_id="000000")
        with pytest.raises(AuthError, match="数据中心不存在"):
            read_all(connector, "BD_Customer", None, 10)
        connector.close()


# --- settings and registration --------------------------------------------------------------


def test_bad_settings_are_a_configuration_error_that_hides_the_password() -> None:
    with pytest.raises(ConfigurationError) as raised:
        create_connector(
            {
                "base_url": "http://erp.example.com/",
                "acct_id": "1",
                "username": "u",
                "password": "s3cret-value",
                "colour": "blue",
            }
        )
    message = str(raised.value)
    assert "base_url" in message
    assert "colour" in message
    assert "s3cret-value" not in message
    config = create_connector(
        {
            "base_url": "http://erp/k3cloud",
            "acct_id": "1",
            "username": "u",
            "password": "s3cret-value",
        }
    ).config
    assert config.base_url == "http://erp/k3cloud/"
    assert "s3cret-value" not in repr(config)


def test_the_connector_and_the_emulator_are_registered() -> None:
    assert connectors.BUILTIN["kingdee"] == "connectors.kingdee:create_connector"
    assert connector_types()["kingdee"] is create_connector
    emulators = {point.name: point.load() for point in entry_points(group="tongbu.emulators")}
    assert emulators["kingdee"] is KingdeeEmulator


# --- reads ----------------------------------------------------------------------------------


def test_sale_orders_come_with_their_lines(k3: KingdeeEmulator) -> None:
    connector = connect(k3)
    records, _ = read_all(connector, "SAL_SaleOrder", None, 5)
    connector.close()
    assert len(records) == 12
    for record in records:
        assert record == k3.get("SAL_SaleOrder", record["FBillNo"])
        lines = record["FSaleOrderEntry"]
        assert 1 <= len(lines) <= 5
        total = sum((line["FAllAmount"] for line in lines), Decimal(0))
        assert record["FBillAllAmount"] == total
        assert all(isinstance(line["FQty"], Decimal) for line in lines)


def test_a_sale_order_round_trips_with_its_lines(k3: KingdeeEmulator) -> None:
    connector = connect(k3)
    order = {
        "FBillNo": "SO-TB-0001",
        "FDate": "2026-11-20",
        "FCustId.FNumber": "CUST0003",
        "FSettleCurrId.FNumber": "PRE001",
        "FNote": "华东区年度框架协议",
        "FSaleOrderEntry": [
            {"FMaterialId.FNumber": "WL00001", "FQty": Decimal("12"), "FPrice": Decimal("88.50")},
            {
                "FMaterialId.FNumber": "WL00002",
                "FQty": Decimal("2.5"),
                "FTaxPrice": Decimal("113"),
                "FEntryTaxRate": Decimal("13"),
                "FEntryNote": "样品",
            },
        ],
    }
    (created,) = connector.upsert("SAL_SaleOrder", [order])
    assert created.ok, created.error
    assert created.created
    saved = k3.get("SAL_SaleOrder", "SO-TB-0001")
    assert saved is not None
    assert saved["FCustId.FNumber"] == "CUST0003"
    first, second = saved["FSaleOrderEntry"]
    assert (first["FQty"], first["FPrice"], first["FAmount"]) == (
        Decimal("12.0"),
        Decimal("88.5"),
        Decimal("1062.0"),
    )
    assert first["FAllAmount"] == Decimal("1200.06")  # 88.50 * 1.13 = 100.005 a piece
    assert (second["FPrice"], second["FAmount"], second["FAllAmount"]) == (
        Decimal("100.0"),
        Decimal("250.0"),
        Decimal("282.5"),
    )
    assert saved["FBillAllAmount"] == Decimal("1482.56")
    assert saved["FBillTaxAmount"] == Decimal("170.56")
    assert saved["FModifyDate"] == created.external_version

    # the lines sent replace the lines there; a finance field is updated too
    change = {
        **order,
        "FSettleCurrId.FNumber": "PRE007",
        "FSaleOrderEntry": [{"FMaterialId.FNumber": "WL00003", "FQty": 1, "FPrice": 10}],
    }
    (updated,) = connector.upsert("SAL_SaleOrder", [change])
    assert updated.ok, updated.error
    assert not updated.created
    records, _ = read_all(connector, "SAL_SaleOrder", {"modified": saved["FModifyDate"]}, 10)
    connector.close()
    assert [record["FBillNo"] for record in records] == ["SO-TB-0001"]
    (line,) = records[0]["FSaleOrderEntry"]
    assert line["FMaterialId.FNumber"] == "WL00003"
    assert records[0]["FBillAllAmount"] == Decimal("11.3")
    assert records[0]["FSettleCurrId.FNumber"] == "PRE007"
    assert records[0]["FNote"] == "华东区年度框架协议"
    assert k3.count("SAL_SaleOrder") == 13


def test_lines_keep_their_ids_and_come_in_their_order_on_the_bill(k3: KingdeeEmulator) -> None:
    connector = connect(k3)
    order = next(bill for bill in k3.all("SAL_SaleOrder") if len(bill["FSaleOrderEntry"]) >= 3)
    reordered = {**order, "FSaleOrderEntry": list(reversed(order["FSaleOrderEntry"]))}
    (result,) = connector.upsert("SAL_SaleOrder", [reordered])
    assert result.ok, result.error
    records, _ = read_all(connector, "SAL_SaleOrder", {"modified": result.external_version}, 10)
    connector.close()
    (read_back,) = records
    ids = [line["FEntryID"] for line in read_back["FSaleOrderEntry"]]
    assert ids == [line["FEntryID"] for line in reversed(order["FSaleOrderEntry"])]
    assert read_back["FBillAllAmount"] == order["FBillAllAmount"]


def test_a_sale_order_for_an_unknown_customer_or_material_is_refused(k3: KingdeeEmulator) -> None:
    connector = connect(k3)
    results = connector.upsert(
        "SAL_SaleOrder",
        [
            {"FBillNo": "SO-X1", "FCustId.FNumber": "CUST9999", "FSaleOrderEntry": []},
            {
                "FBillNo": "SO-X2",
                "FCustId.FNumber": "CUST0001",
                "FSaleOrderEntry": [{"FMaterialId.FNumber": "NO-SUCH", "FQty": 1}],
            },
            {"FBillNo": "SO-X3", "FCustId.FNumber": "CUST0001", "FSaleOrderEntry": []},
        ],
    )
    connector.close()
    assert isinstance(results[0].error, PermanentError)
    assert results[0].error.reason == "字段“客户”的值“CUST9999”在客户中不存在"
    assert isinstance(results[1].error, PermanentError)
    assert "第1行" in results[1].error.reason
    assert "NO-SUCH" in results[1].error.reason
    assert results[2].ok
    assert k3.get("SAL_SaleOrder", "SO-X1") is None
    assert k3.get("SAL_SaleOrder", "SO-X3") is not None


def test_entry_fields_give_one_row_per_line_and_paging_counts_rows(
    k3: KingdeeEmulator, session: httpx.Client
) -> None:
    lines = sum(len(order["FSaleOrderEntry"]) for order in k3.all("SAL_SaleOrder"))
    keys = "FBillNo,FSaleOrderEntry_FEntryID,FMaterialId.FNumber,FQty"
    every = rows(
        session,
        FormId="SAL_SaleOrder",
        FieldKeys=keys,
        OrderString="FBillNo, FSaleOrderEntry_FEntryID",
    )
    assert len(every) == lines > 12
    pages = [
        rows(
            session,
            FormId="SAL_SaleOrder",
            FieldKeys=keys,
            OrderString="FBillNo, FSaleOrderEntry_FEntryID",
            StartRow=start,
            Limit=7,
        )
        for start in range(0, lines, 7)
    ]
    assert [row for page in pages for row in page] == every
    assert all(len(page) == 7 for page in pages[:-1])
    headers = rows(session, FormId="SAL_SaleOrder", FieldKeys="FID,FBillNo,FCustId,FCustId.FNumber")
    assert len(headers) == 12
    assert all(isinstance(row[2], int) and row[2] > 100000 for row in headers)
    top = rows(session, FormId="SAL_SaleOrder", FieldKeys=keys, TopRowCount=5, Limit=100)
    assert len(top) == 5


def test_filter_strings_as_real_clients_write_them(
    k3: KingdeeEmulator, session: httpx.Client
) -> None:
    def numbers(filter_string: Any) -> list[str]:
        answer = rows(
            session,
            FormId="BD_Customer",
            FieldKeys="FNumber",
            FilterString=filter_string,
            OrderString="FNumber ASC",
        )
        return [row[0] for row in answer]

    assert numbers("FNumber IN ('CUST0002','CUST0005') OR FNumber = 'CUST0009'") == [
        "CUST0002",
        "CUST0005",
        "CUST0009",
    ]
    assert numbers("fnumber like 'CUST001%' and (FCUSTID > 100011 or FNumber = 'CUST0010')") == [
        "CUST0010",
        "CUST0012",
        "CUST0013",
        "CUST0014",
        "CUST0015",
        "CUST0016",
        "CUST0017",
        "CUST0018",
        "CUST0019",
    ]
    assert numbers("FNumber <> 'CUST0001' AND FCUSTID <= 100003") == ["CUST0002", "CUST0003"]
    assert numbers(
        "FCreateOrgId.FNumber = '100' AND FNumber NOT IN ('CUST0001') AND FCUSTID < 100004"
    ) == ["CUST0002", "CUST0003"]
    assert numbers(
        [
            {
                "Left": "(",
                "FieldName": "FNumber",
                "Compare": "=",
                "Value": "CUST0004",
                "Right": "",
                "Logic": 1,
            },
            {
                "Left": "",
                "FieldName": "FNumber",
                "Compare": "=",
                "Value": "CUST0006",
                "Right": ")",
                "Logic": 0,
            },
            {
                "Left": "",
                "FieldName": "FDocumentStatus",
                "Compare": "IN",
                "Value": "A,B,C",
                "Right": "",
                "Logic": 0,
            },
        ]
    ) == ["CUST0004", "CUST0006"]
    k3.set_modify_date("BD_Customer", ["CUST0040"], "2030-01-01T00:00:00.000")
    assert numbers("FModifyDate >= '2030-01-01'") == ["CUST0040"]
    assert numbers("FModifyDate = '2030-01-01 00:00:00'") == ["CUST0040"]
    assert numbers("FModifyDate > '2030-01-01T00:00:00.000'") == []
    assert numbers("FModifyDate BETWEEN '2029-12-31' AND '2030-01-02'") == ["CUST0040"]
    # a literal is a value, never SQL
    assert numbers("FName = 'x'' OR 1=1 --'") == []
    assert k3.count("BD_Customer") == 40


@pytest.mark.parametrize(
    ("field_keys", "filter_string", "message"),
    [
        ("FNumber,FNoSuchField", "", "元数据中标识为FNoSuchField的字段不存在"),
        ("FNumber", "FNoSuchField = 1", "元数据中标识为FNoSuchField的字段不存在"),
        ("FNumber", "FNumber = 'a'; DROP TABLE bd_customer", "附近有语法错误"),
        ("FNumber", "FModifyDate > 'yesterday'", "从字符串转换日期和/或时间时，转换失败。"),
    ],
)
def test_a_query_k3_refuses_answers_its_error_and_the_connector_does_not_retry(
    k3: KingdeeEmulator, session: httpx.Client, field_keys: str, filter_string: str, message: str
) -> None:
    answer = rows(session, FormId="BD_Customer", FieldKeys=field_keys, FilterString=filter_string)
    status = answer[0][0]["Result"]["ResponseStatus"]
    assert status["IsSuccess"] is False
    assert message in status["Errors"][0]["Message"]
    connector = connect(k3)
    before = k3.requests["ExecuteBillQuery"]
    with pytest.raises(PermanentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        connector.client.execute_bill_query(
            {"FormId": "BD_Customer", "FieldKeys": field_keys, "FilterString": filter_string}
        )
    connector.close()
    assert k3.requests["ExecuteBillQuery"] == before + 1
    assert k3.count("BD_Customer") == 40


def test_view_shows_the_full_model(k3: KingdeeEmulator, session: httpx.Client) -> None:
    answer = call(
        session, "View", "BD_Customer", {"CreateOrgId": 0, "Number": "CUST0002", "Id": ""}
    )
    model = answer["Result"]["Result"]
    assert answer["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert model["Number"] == "CUST0002"
    assert model["Name"] == [{"Key": 2052, "Value": k3.get("BD_Customer", "CUST0002")["FName"]}]  # type: ignore[index]
    assert model["CreateOrgId"]["Number"] == "100"
    order = call(session, "View", "SAL_SaleOrder", {"Id": str(100001)})["Result"]["Result"]
    assert order["BillNo"] == "XSDD000001"
    assert order["SaleOrderEntry"][0]["MaterialId"]["Number"].startswith("WL")
    assert order["SaleOrderFinance"][0]["SettleCurrId"]["Number"] == "PRE001"
    missing = call(session, "View", "BD_Customer", {"Number": "NOPE"})
    assert missing["Result"]["ResponseStatus"]["IsSuccess"] is False
    assert missing["Result"]["Result"] is None


# --- writes ---------------------------------------------------------------------------------


def test_save_and_batch_save_answer_per_record(k3: KingdeeEmulator, session: httpx.Client) -> None:
    single = call(
        session, "Save", "BD_Customer", json.dumps({"Model": {"FCUSTID": 0, "FName": "无编码客户"}})
    )
    assert single["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert single["Result"]["Number"] == "CUST0041"  # the coding rule numbers it
    batch = call(
        session,
        "BatchSave",
        "BD_Customer",
        {
            "Model": [
                {"FNumber": "CUST0001", "FName": "重复"},
                {"FNumber": "NEW-1", "FName": "新客户", "FTRADINGCURRID": {"FNumber": "PRE007"}},
                {"FNumber": "NEW-2", "FName": "新客户", "FTRADINGCURRID": {"FNumber": "XXX"}},
                {"FNumber": "NEW-3", "FName": "新客户", "FColour": "蓝"},
            ]
        },
    )
    status = batch["Result"]["ResponseStatus"]
    assert status["IsSuccess"] is False
    assert [entity["Number"] for entity in status["SuccessEntitys"]] == ["NEW-1"]
    assert status["SuccessEntitys"][0]["DIndex"] == 1
    errors = {error["DIndex"]: error["Message"] for error in status["Errors"]}
    assert errors[0] == "编码为“CUST0001”的客户已经存在，编码必须唯一！"
    assert errors[2] == "字段“结算币别”的值“XXX”在币别中不存在"
    assert "FColour" in errors[3]
    assert k3.get("BD_Customer", "NEW-1")["FTRADINGCURRID.FNumber"] == "PRE007"  # type: ignore[index]


def test_need_up_date_fields_limits_an_update(k3: KingdeeEmulator, session: httpx.Client) -> None:
    before = k3.get("BD_Customer", "CUST0004")
    assert before is not None
    call(
        session,
        "Save",
        "BD_Customer",
        {
            "NeedUpDateFields": ["FTEL"],
            "Model": {"FCUSTID": before["FCUSTID"], "FTEL": "021-60001234", "FName": "不该改"},
        },
    )
    after = k3.get("BD_Customer", "CUST0004")
    assert after is not None
    assert after["FTEL"] == "021-60001234"
    assert after["FName"] == before["FName"]
    assert after["FModifyDate"] > before["FModifyDate"]


def test_modification_times_strictly_increase_per_write(k3: KingdeeEmulator) -> None:
    stamps = [k3.edit("BD_Customer", "CUST0001", FTEL=f"010-8000{n:04d}") for n in range(30)]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 30
    assert all(len(stamp) == len("2026-11-25T10:00:00.123") for stamp in stamps)


def test_delete_by_numbers_and_ids_answers_per_record(
    k3: KingdeeEmulator, session: httpx.Client
) -> None:
    connector = connect(k3)
    created = connector.upsert(
        "BD_Customer", [{"FNumber": f"DEL-{n}", "FName": f"待删{n}"} for n in range(3)]
    )
    assert all(result.ok for result in created)
    by_numbers = call(session, "Delete", "BD_Customer", {"Numbers": ["DEL-0", "NOPE"]})
    status = by_numbers["Result"]["ResponseStatus"]
    assert [entity["Number"] for entity in status["SuccessEntitys"]] == ["DEL-0"]
    assert status["Errors"][0]["DIndex"] == 1
    ids = ",".join(str(k3.get("BD_Customer", f"DEL-{n}")["FCUSTID"]) for n in (1, 2))  # type: ignore[index]
    by_ids = call(session, "Delete", "BD_Customer", {"Ids": ids})
    assert by_ids["Result"]["ResponseStatus"]["IsSuccess"] is True
    # K3 deletes only what is not audited: the connector un-audits first (反审核), unless told
    # not to; a customer a sale order uses stays, audited as it was
    used = {order["FCustId.FNumber"] for order in k3.all("SAL_SaleOrder")}
    free = [number for number in k3.numbers("BD_Customer") if number not in used]
    taken = sorted(used)[0]
    for number in (taken, free[0], free[1]):
        k3.edit("BD_Customer", number, FDocumentStatus="C")
    results = connector.delete("BD_Customer", [free[0], taken])
    connector.close()
    assert results[0].ok, results[0].error
    assert k3.get("BD_Customer", free[0]) is None
    assert isinstance(results[1].error, PermanentError)
    assert "已被销售订单引用" in results[1].error.reason
    assert k3.get("BD_Customer", taken)["FDocumentStatus"] == "C"  # type: ignore[index]
    strict = connect(k3, unaudit_before_delete=False)
    (kept,) = strict.delete("BD_Customer", [free[1]])
    strict.close()
    assert isinstance(kept.error, PermanentError)
    assert kept.error.reason == f"“{free[1]}”的数据状态为已审核，不允许删除！"


def test_forbid_status_is_set_by_the_forbid_and_enable_operations(
    k3: KingdeeEmulator, session: httpx.Client
) -> None:
    connector = connect(k3)
    before = k3.get("BD_Customer", "CUST0007")
    assert before is not None
    assert before["FForbidStatus"] == "A"
    (archived,) = connector.upsert("BD_Customer", [{"FNumber": "CUST0007", "FForbidStatus": "B"}])
    assert archived.ok, archived.error
    after = k3.get("BD_Customer", "CUST0007")
    assert after is not None
    assert after["FForbidStatus"] == "B"
    assert after["FName"] == before["FName"]
    assert archived.external_version == after["FModifyDate"]
    operations = k3.calls("ExcuteOperation")
    connector.upsert("BD_Customer", [{"FNumber": "CUST0007", "FForbidStatus": "B"}])
    assert k3.calls("ExcuteOperation") == operations  # already forbidden: nothing to do
    (enabled,) = connector.upsert("BD_Customer", [{"FNumber": "CUST0007", "FForbidStatus": "A"}])
    (wrong,) = connector.upsert("BD_Customer", [{"FNumber": "CUST0007", "FForbidStatus": "X"}])
    connector.close()
    assert enabled.ok, enabled.error
    assert k3.get("BD_Customer", "CUST0007")["FForbidStatus"] == "A"  # type: ignore[index]
    assert isinstance(wrong.error, PermanentError)
    # the operations as K3 answers them, in both envelopes
    formal = session.post(
        service_path("ExcuteOperation"),
        json={"parameters": ["BD_Customer", "Forbid", json.dumps({"Numbers": ["CUST0008"]})]},
    ).json()
    assert formal["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Number"] == "CUST0008"
    k3.edit("BD_Customer", "CUST0008", FDocumentStatus="A")
    audit = call(session, "Audit", "BD_Customer", {"Numbers": ["CUST0008"]})
    message = audit["Result"]["ResponseStatus"]["Errors"][0]["Message"]
    assert message == "“CUST0008”的数据状态为创建，不能执行Audit操作！"
    for step in ("Submit", "Audit"):
        answer = call(session, step, "BD_Customer", {"Numbers": ["CUST0008"]})
        assert answer["Result"]["ResponseStatus"]["IsSuccess"] is True
    assert k3.get("BD_Customer", "CUST0008")["FDocumentStatus"] == "C"  # type: ignore[index]


def test_materials_are_read_and_written(k3: KingdeeEmulator) -> None:
    connector = connect(k3)
    (result,) = connector.upsert(
        "BD_MATERIAL",
        [
            {
                "FNumber": "WL-TB-1",
                "FName": "测试螺栓",
                "FSpecification": "M6×20",
                "FBaseUnitId.FNumber": "Pcs",
            }
        ],
    )
    assert result.ok, result.error
    records, _ = read_all(connector, "BD_MATERIAL", None, 50)
    assert len(records) == 21
    assert records[-1]["FBaseUnitId.FNumber"] == "Pcs"
    with pytest.raises(ConfigurationError):
        connector.delete("BD_MATERIAL", ["WL-TB-1"])
    connector.close()


# --- broken bodies, faults over HTTP, the command line --------------------------------------


def test_broken_bodies_both_ways(
    k3: KingdeeEmulator, session: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    sent = session.post(
        QUERY, content=b'{"data": {"FormId": "BD_Cust', headers={"Content-Type": "application/json"}
    )
    assert sent.status_code == 200
    assert "JSON" in sent.json()[0][0]["Result"]["ResponseStatus"]["Errors"][0]["Message"]
    fast = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, min_wait=0.01)
    connector = KingdeeConnector(connect(k3).config, retry=fast)
    k3.faults.malformed(2)
    caplog.set_level(logging.WARNING, logger="tongbu.http")
    records, _ = read_all(connector, "BD_Customer", None, 100)
    assert len(records) == 40
    assert sum("is not JSON" in record.getMessage() for record in caplog.records) == 2
    k3.faults.malformed(10)
    with pytest.raises(TransientError, match="not JSON"):
        read_all(connector, "BD_Customer", None, 100)
    connector.close()


def test_faults_can_be_switched_over_http(k3: KingdeeEmulator) -> None:
    admin = k3.url + "__emulator__/"
    switched = httpx.post(
        admin + "faults",
        json=[
            {"action": "throttle", "n": 1, "retry_after": 0},
            {"action": "reject", "form": "BD_Customer", "numbers": ["R-1"], "message": "不允许"},
        ],
    ).json()
    assert switched["throttle"] == {"n": 1, "retry_after": 0}
    connector = connect(k3)
    results = connector.upsert("BD_Customer", [{"FNumber": "R-1", "FName": "被拒"}])
    assert results[0].error is not None
    assert "不允许" in str(results[0].error)
    counts = httpx.get(admin + "requests").json()
    assert counts["ValidateUser"] == 1
    assert httpx.post(admin + "faults", json={"action": "nonsense"}).status_code == 400
    edited = httpx.post(
        admin + "edit",
        json={"form": "BD_Customer", "number": "CUST0002", "fields": {"FName": "远程改名"}},
    ).json()
    assert k3.get("BD_Customer", "CUST0002")["FModifyDate"] == edited["FModifyDate"]  # type: ignore[index]
    connector.close()


def test_helpers_see_what_a_user_of_the_erp_sees(k3: KingdeeEmulator) -> None:
    numbers = k3.numbers("BD_Customer")
    assert numbers[:3] == ["CUST0001", "CUST0002", "CUST0003"]
    assert len(numbers) == k3.count("BD_Customer") == 40
    orders = k3.all("SAL_SaleOrder")
    assert [order["FBillNo"] for order in orders] == k3.numbers("SAL_SaleOrder")
    assert orders[4] == k3.get("SAL_SaleOrder", orders[4]["FBillNo"])
    assert k3.delete_direct("BD_Customer", "CUST0040")
    assert k3.get("BD_Customer", "CUST0040") is None
    assert not k3.delete_direct("BD_Customer", "CUST0040")
    connector = connect(k3)
    k3.faults.reject("BD_Customer", names=["温州被拒客户有限公司"], message="客户分组不能为空")
    refused, taken = connector.upsert(
        "BD_Customer", [{"FName": "温州被拒客户有限公司"}, {"FName": "宁波新客户有限公司"}]
    )
    connector.close()
    assert isinstance(refused.error, PermanentError)
    assert refused.error.reason == "客户分组不能为空"
    assert taken.ok
    assert str(taken.external_id).startswith("CUST00")  # numbered by the coding rule
    assert k3.calls("BatchSave") == 1
    assert k3.calls("ValidateUser") == 1


def test_the_seed_is_deterministic_and_realistic() -> None:
    with (
        KingdeeEmulator(seed={"customers": 300, "seed": 7}) as first,
        KingdeeEmulator(seed={"customers": 300, "seed": 7}) as second,
    ):
        assert first.get("BD_Customer", "CUST0123") == second.get("BD_Customer", "CUST0123")
        connector = connect(first)
        records, _ = read_all(connector, "BD_Customer", None, 1000)
        connector.close()
    moments = [record["FModifyDate"] for record in records]
    assert len(set(moments)) < len(moments) / 3, "seeded records share modification times"
    for record in records:
        assert record["FName"].endswith("公司")
        assert _valid_credit_code(record["FTAXREGISTERCODE"]), record["FTAXREGISTERCODE"]


def _valid_credit_code(code: str) -> bool:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(chars.index(c) * w for c, w in zip(code[:17], weights, strict=True))
    return len(code) == 18 and chars[(31 - total % 31) % 31] == code[17]


def test_the_command_line_serves_a_seeded_emulator(tmp_path: Any) -> None:
    data = tmp_path / "k3.db"
    command = [sys.executable, "-m", "connectors.kingdee.emulator", "--port", "0"]
    command += ["--seed", "customers=25,orders=3", "--data", str(data)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().split(" at ")[1].strip()
            settings = dict(part.split("=", 1) for part in process.stdout.readline().split())
            connector = create_connector({"base_url": url, **settings})
            records, _ = read_all(connector, "BD_Customer", None, 10)
            orders, _ = read_all(connector, "SAL_SaleOrder", None, 10)
            connector.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert len(records) == 25
    assert len(orders) == 3
    with KingdeeEmulator(data_path=str(data), seed={"customers": 99}) as again:
        assert again.count("BD_Customer") == 25  # a kept database is not seeded again


def test_a_lookback_window_catches_a_save_that_commits_after_a_later_one_was_read(
    k3: KingdeeEmulator,
) -> None:
    numbers = k3.numbers("BD_Customer")
    with connect(k3) as strict, connect(k3, lookback_seconds=120) as looking_back:
        pages = list(strict.read_changes("BD_Customer", None, 100))
        cursor = pages[-1].next_cursor
        # A save that began 30 s before the last record read, and committed only now.
        late = (datetime.fromisoformat(cursor["modified"]) - timedelta(seconds=30)).isoformat(
            timespec="milliseconds"
        )
        k3.set_modify_date("BD_Customer", [numbers[0]], late)

        missed = [r for p in strict.read_changes("BD_Customer", cursor, 100) for r in p.records]
        caught = [
            r for p in looking_back.read_changes("BD_Customer", cursor, 100) for r in p.records
        ]

    assert missed == []
    assert numbers[0] in {record["FNumber"] for record in caught}
