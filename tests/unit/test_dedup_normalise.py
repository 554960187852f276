"""The dedup normalisers: company and person names, phones, e-mail, addresses, dates, pinyin."""

from __future__ import annotations

import dataclasses

import pytest

from crm_core.dedup import normalise_credit_code
from crm_core.dedup._normalise import (
    CompanyName,
    PersonName,
    email_domain,
    is_free_mail_domain,
    normalise_address,
    normalise_company_name,
    normalise_date,
    normalise_email,
    normalise_person_full_name,
    normalise_person_name,
    normalise_phone,
    pinyin,
)

# --- company names ----------------------------------------------------------------------------

HEAD_OFFICE = "杭州华信电子科技有限公司"


@pytest.mark.parametrize(
    ("name", "core", "region", "legal_form"),
    [
        # the legal-form variants of one company: one core
        ("杭州华信电子科技有限公司", "华信电子科技", "杭州", "有限公司"),
        ("杭州华信电子科技有限责任公司", "华信电子科技", "杭州", "有限公司"),
        ("浙江华信电子科技股份有限公司", "华信电子科技", "浙江", "股份有限公司"),
        ("杭州华信电子科技集团有限公司", "华信电子科技", "杭州", "集团有限公司"),
        ("杭州华信电子科技（集团）股份有限公司", "华信电子科技", "杭州", "集团股份有限公司"),
        ("华信电子科技集团", "华信电子科技", None, "集团"),
        ("华信电子科技股份公司", "华信电子科技", None, "股份有限公司"),
        # the same brand in another city: another region, the same core
        ("苏州华信电子科技有限公司", "华信电子科技", "苏州", "有限公司"),
        # regions: with and without suffixes, several levels, in brackets, anywhere in brackets
        ("杭州市华信电子科技有限公司", "华信电子科技", "杭州", "有限公司"),
        ("浙江省杭州市华信电子科技有限公司", "华信电子科技", "杭州", "有限公司"),
        ("浙江杭州华信电子科技有限公司", "华信电子科技", "杭州", "有限公司"),
        ("杭州市滨江区华信电子科技有限公司", "华信电子科技", "滨江", "有限公司"),
        ("杭州萧山华信电子科技有限公司", "华信电子科技", "萧山", "有限公司"),
        ("上海浦东新区华信贸易有限公司", "华信贸易", "浦东", "有限公司"),
        ("华信电子科技（杭州）有限公司", "华信电子科技", "杭州", "有限公司"),
        ("华信电子科技有限公司（杭州）", "华信电子科技", "杭州", "有限公司"),
        ("【杭州】华信电子科技有限公司", "华信电子科技", "杭州", "有限公司"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴", "中国", "有限公司"),
        ("华信科技（香港）有限公司", "华信科技", "香港", "有限公司"),
        ("吉林省吉林市华信有限公司", "华信", "吉林市", "有限公司"),  # not the province 吉林
        # what only looks like a region stays in the name
        ("中山有限公司", "中山", None, "有限公司"),
        ("中山大学", "中山大学", None, None),
        ("杭州银行股份有限公司", "杭州银行", None, "股份有限公司"),
        ("广州白云山制药股份有限公司", "白云山制药", "广州", "股份有限公司"),
        ("杭州西湖龙井茶业有限公司", "西湖龙井茶业", "杭州", "有限公司"),
        ("苏州市场营销有限公司", "市场营销", "苏州", "有限公司"),
        # traditional characters, full-width letters and brackets
        ("杭州華信電子科技有限責任公司", "华信电子科技", "杭州", "有限公司"),
        ("華信電子科技（杭州）有限公司", "华信电子科技", "杭州", "有限公司"),
        ("ＡＢＣ科技（杭州）有限公司", "abc科技", "杭州", "有限公司"),
        ("杭州 华信 电子科技 有限公司", "华信电子科技", "杭州", "有限公司"),
        # other forms
        ("杭州华信投资管理合伙企业（有限合伙）", "华信投资管理", "杭州", "有限合伙"),
        ("张三个体工商户", "张三", None, "个体工商户"),
        ("杭州老王个人独资企业", "老王", "杭州", "个人独资企业"),
        ("杭州红星服装厂", "红星服装厂", "杭州", "厂"),
        ("老王面馆", "老王面馆", None, None),
        # an English translation beside the Chinese name
        ("杭州华信有限公司 Hangzhou Huaxin Co., Ltd.", "华信", "杭州", "有限公司"),
        ("Hangzhou Huaxin Co., Ltd. 杭州华信有限公司", "华信", "杭州", "有限公司"),
        # English names
        ("Huaxin Electronics Co., Ltd.", "huaxin electronics", None, "co_ltd"),
        ("HUAXIN ELECTRONICS CO LTD", "huaxin electronics", None, "co_ltd"),
        ("Huaxin Electronics Co.,Ltd", "huaxin electronics", None, "co_ltd"),
        ("Huaxin Electronics Company Limited", "huaxin electronics", None, "co_ltd"),
        ("Huaxin Electronics Inc.", "huaxin electronics", None, "inc"),
        ("Huaxin Electronics LLC", "huaxin electronics", None, "llc"),
        ("Huaxin Electronics Ltd", "huaxin electronics", None, "ltd"),
        ("Huaxin Electronics Corp.", "huaxin electronics", None, "corp"),
        ("Huaxin Electronics Corporation", "huaxin electronics", None, "corp"),
        ("Huaxin GmbH", "huaxin", None, "gmbh"),
        ("Huaxin Group Co., Ltd.", "huaxin", None, "group_co_ltd"),
        ("Hangzhou Huaxin Electronics Co., Ltd.", "huaxin electronics", "杭州", "co_ltd"),
        ("Huaxin Electronics (Hangzhou) Co., Ltd.", "huaxin electronics", "杭州", "co_ltd"),
        ("Huaxin (Hong Kong) Limited", "huaxin", "香港", "ltd"),
        (
            "Ｈｕａｘｉｎ　Ｅｌｅｃｔｒｏｎｉｃｓ　ＣＯ．，ＬＴＤ．",
            "huaxin electronics",
            None,
            "co_ltd",
        ),
        ("McDonald's Corporation", "mcdonalds", None, "corp"),
        ("Société Générale", "societe generale", None, None),
    ],
)
def test_company_names_come_apart(
    name: str, core: str, region: str | None, legal_form: str | None
) -> None:
    company = normalise_company_name(name)
    assert company is not None
    assert (company.core, company.region, company.legal_form) == (core, region, legal_form)


@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("杭州华信电子科技有限公司", "杭州华信电子科技有限公司"),
        ("杭州华信电子科技有限责任公司", "杭州华信电子科技有限公司"),
        ("杭州華信電子科技有限公司", "杭州华信电子科技有限公司"),
        ("杭州华信电子科技股份有限公司", "杭州华信电子科技股份有限公司"),
        ("华信（集团）有限公司", "华信集团有限公司"),
        ("华信电子科技【杭州】有限公司", "华信电子科技(杭州)有限公司"),
        ("华信电子科技有限公司（杭州）", "华信电子科技(杭州)有限公司"),
        ("杭州华信电子科技有限公司（滨江分公司）", "杭州华信电子科技有限公司滨江分公司"),
        ("杭州华信投资合伙企业(有限合伙)", "杭州华信投资合伙企业(有限合伙)"),
        ("“杭州·华信”电子科技有限公司。", "杭州华信电子科技有限公司"),
        ("Huaxin Electronics Co., Ltd.", "huaxin electronics co ltd"),
        ("HUAXIN ELECTRONICS COMPANY LIMITED", "huaxin electronics co ltd"),
        ("Huaxin Electronics (Hangzhou) Co., Ltd.", "huaxin electronics (hangzhou) co ltd"),
    ],
)
def test_the_full_name_is_folded_with_one_spelling_of_the_legal_form(name: str, full: str) -> None:
    company = normalise_company_name(name)
    assert company is not None
    assert company.full == full


def test_limited_company_forms_fold_together_but_joint_stock_stays_apart() -> None:
    one = normalise_company_name("杭州华信电子科技有限责任公司")
    two = normalise_company_name("杭州華信電子科技有限公司")
    joint_stock = normalise_company_name("杭州华信电子科技股份有限公司")
    assert one is not None
    assert joint_stock is not None
    assert one == two
    assert joint_stock.full != one.full
    assert joint_stock.core == one.core


@pytest.mark.parametrize(
    ("name", "branch"),
    [
        ("杭州华信电子科技有限公司", None),
        ("杭州华信电子科技有限公司滨江分公司", "滨江"),
        ("杭州华信电子科技有限公司滨江区分公司", "滨江"),
        ("杭州华信电子科技有限公司（滨江分公司）", "滨江"),
        ("杭州华信电子科技有限公司分公司", ""),
        ("杭州华信电子科技有限公司第一分公司", "第一"),
        ("杭州华信电子科技有限公司滨江营业部", "滨江"),
        ("杭州华信电子科技有限公司上海办事处", "上海"),
        ("杭州华信电子科技有限公司滨江分店", "滨江"),
        ("杭州华信电子科技有限公司萧山分厂", "萧山"),
    ],
)
def test_a_branch_is_a_feature_and_keeps_its_head_offices_core(
    name: str, branch: str | None
) -> None:
    company = normalise_company_name(name)
    head_office = normalise_company_name(HEAD_OFFICE)
    assert company is not None
    assert head_office is not None
    assert company.branch == branch
    assert (company.core, company.region, company.legal_form) == (
        head_office.core,
        head_office.region,
        head_office.legal_form,
    )


@pytest.mark.parametrize(
    ("name", "branch"),
    [
        ("招商银行杭州分行", "杭州"),
        ("中国银行股份有限公司杭州滨江支行", "滨江"),
        ("Huaxin Electronics Co., Ltd. Shanghai Branch", "上海"),
        ("Huaxin Electronics Co., Ltd. Branch", ""),
    ],
)
def test_other_branches(name: str, branch: str) -> None:
    company = normalise_company_name(name)
    assert company is not None
    assert company.branch == branch


@pytest.mark.parametrize(
    ("name", "region", "province", "city"),
    [
        ("杭州华信电子科技有限公司", "杭州", "浙江", "杭州"),
        ("浙江华信电子科技有限公司", "浙江", "浙江", None),
        ("杭州市滨江区华信电子科技有限公司", "滨江", "浙江", "杭州"),
        ("北京市海淀区华信科技有限公司", "海淀", "北京", "北京"),
        ("深圳市腾讯计算机系统有限公司", "深圳", "广东", "深圳"),
        ("广西壮族自治区华信有限公司", "广西", "广西", None),
        ("延边朝鲜族自治州华信有限公司", "延边", "吉林", "延边"),
        ("华信有限公司", None, None, None),
    ],
)
def test_the_province_and_city_follow_from_the_region(
    name: str, region: str | None, province: str | None, city: str | None
) -> None:
    company = normalise_company_name(name)
    assert company is not None
    assert (company.region, company.province, company.city) == (region, province, city)


@pytest.mark.parametrize(
    ("name", "pinyin_of_core"),
    [
        ("杭州华信电子科技有限公司", "huaxindianzikeji"),
        ("杭州华鑫电子科技有限公司", "huaxindianzikeji"),  # a homophone typo reads the same
        ("ABC科技有限公司", "abckeji"),
        ("Huaxin Electronics Co., Ltd.", "huaxinelectronics"),
    ],
)
def test_company_pinyin_is_the_cores(name: str, pinyin_of_core: str) -> None:
    company = normalise_company_name(name)
    assert company is not None
    assert company.pinyin == pinyin_of_core


@pytest.mark.parametrize("empty", [None, "", "   ", "（）", "..."])
def test_an_empty_company_name_is_none(empty: str | None) -> None:
    assert normalise_company_name(empty) is None


def test_company_names_are_frozen_and_slotted() -> None:
    company = normalise_company_name(HEAD_OFFICE)
    assert isinstance(company, CompanyName)
    assert not hasattr(company, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        company.core = "x"  # type: ignore[misc]


# --- person names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        # surnames read as surnames
        ("雄信", "单", ("单雄信", "单", "雄信", "shanxiongxin")),
        ("国藩", "曾", ("曾国藩", "曾", "国藩", "zengguofan")),
        ("伟", "仇", ("仇伟", "仇", "伟", "qiuwei")),
        ("槿惠", "朴", ("朴槿惠", "朴", "槿惠", "piaojinhui")),
        ("伟", "区", ("区伟", "区", "伟", "ouwei")),
        ("伟", "解", ("解伟", "解", "伟", "xiewei")),
        ("伟", "查", ("查伟", "查", "伟", "zhawei")),
        ("伟", "盖", ("盖伟", "盖", "伟", "gewei")),
        ("伟", "乐", ("乐伟", "乐", "伟", "yuewei")),
        ("伟", "覃", ("覃伟", "覃", "伟", "qinwei")),
        ("伟", "翟", ("翟伟", "翟", "伟", "zhaiwei")),
        # the given name keeps its ordinary reading: 单单 is shan dan
        ("单", "单", ("单单", "单", "单", "shandan")),
        # compound surnames
        ("娜娜", "欧阳", ("欧阳娜娜", "欧阳", "娜娜", "ouyangnana")),
        ("亮", "诸葛", ("诸葛亮", "诸葛", "亮", "zhugeliang")),
        ("敬德", "尉迟", ("尉迟敬德", "尉迟", "敬德", "yuchijingde")),
        ("冲", "令狐", ("令狐冲", "令狐", "冲", "linghuchong")),
        ("无忌", "长孙", ("长孙无忌", "长孙", "无忌", "zhangsunwuji")),
        # a whole name in one field
        (None, "张伟", ("张伟", "张", "伟", "zhangwei")),
        ("张伟", None, ("张伟", "张", "伟", "zhangwei")),
        (None, "欧阳娜娜", ("欧阳娜娜", "欧阳", "娜娜", "ouyangnana")),
        (None, "司马光", ("司马光", "司马", "光", "simaguang")),
        (None, "单雄信", ("单雄信", "单", "雄信", "shanxiongxin")),
        # surname and given name in the wrong fields
        ("张", "伟", ("张伟", "张", "伟", "zhangwei")),
        # traditional, full-width spaces, stray punctuation
        ("偉", "張", ("张伟", "张", "伟", "zhangwei")),
        ("　伟　", "张·", ("张伟", "张", "伟", "zhangwei")),
        # Latin names: given surname, accents and punctuation gone
        ("John", "Smith", ("john smith", "smith", "john", "smithjohn")),
        ("  JOHN ", " SMITH ", ("john smith", "smith", "john", "smithjohn")),
        ("José", "Núñez", ("jose nunez", "nunez", "jose", "nunezjose")),
        ("Mary-Jane", "O'Brien", ("mary jane obrien", "obrien", "mary jane", "obrienmaryjane")),
        ("Wei", "Zhang", ("wei zhang", "zhang", "wei", "zhangwei")),  # the pinyin of 张伟
        (None, "Smith", ("smith", "smith", "", "smith")),
        ("John", None, ("john", "", "john", "john")),
    ],
)
def test_person_names(
    first: str | None, last: str | None, expected: tuple[str, str, str, str]
) -> None:
    assert normalise_person_name(first, last) == PersonName(*expected)


@pytest.mark.parametrize(
    ("text", "full", "surname", "given"),
    [
        ("张伟", "张伟", "张", "伟"),
        (" 张 伟 ", "张伟", "张", "伟"),
        ("欧阳娜娜", "欧阳娜娜", "欧阳", "娜娜"),
        ("张先生", "张", "张", ""),
        ("李经理", "李", "李", ""),
        ("王总", "王", "王", ""),
        ("John Smith", "john smith", "smith", "john"),
        ("Smith, John", "john smith", "smith", "john"),
        ("Dr. John Michael Smith", "john michael smith", "smith", "john michael"),
        ("Smith", "smith", "smith", ""),
    ],
)
def test_person_full_names(text: str, full: str, surname: str, given: str) -> None:
    person = normalise_person_full_name(text)
    assert person is not None
    assert (person.full, person.surname, person.given) == (full, surname, given)


def test_a_surname_reading_differs_from_the_common_reading() -> None:
    assert pinyin("单") == "dan"
    person = normalise_person_full_name("单伟")
    assert person is not None
    assert person.pinyin == "shanwei"


@pytest.mark.parametrize(("first", "last"), [(None, None), ("", ""), ("  ", None)])
def test_an_empty_person_name_is_none(first: str | None, last: str | None) -> None:
    assert normalise_person_name(first, last) is None
    assert normalise_person_full_name(first) is None


# --- phones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("+86-138-0013-8000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("(0571) 8888 6666", "+8657188886666"),
        ("0571-88886666", "+8657188886666"),
        ("+86 571 8888 6666", "+8657188886666"),
        ("+86 (0)571 8888 6666", "+8657188886666"),
        ("010-88886666", "+861088886666"),
        ("021 6888 8888", "+862168888888"),
        ("0571-88886666转123", "+8657188886666"),  # the extension is dropped
        ("0571-88886666 ext. 12", "+8657188886666"),
        ("0571-88886666#12", "+8657188886666"),
        ("400-800-1234", "+864008001234"),
        ("+61 2 9876 5432", "+61298765432"),
        ("+1 415 555 0132", "+14155550132"),
        ("+44 20 7946 0958", "+442079460958"),
        # not a valid number
        ("12345", None),
        ("1380013800", None),  # one digit short
        ("138001380001", None),  # one digit long
        ("14012345678", None),  # no such mobile range
        ("010-8888666", None),  # Beijing numbers have eight digits
        ("0592-7361 7448", "+8659273617448"),  # outside phonenumbers' blocks, still a number
        ("0531-3538 7250-1106", "+8653135387250"),  # an extension after a dash
        ("0571 8888 66", None),  # too short
        ("026-8888 6666", None),  # no such area code
        ("+1 415 555", None),
        ("phone", None),
        ("转123", None),
        ("", None),
        (None, None),
    ],
)
def test_phones_to_e164(text: str | None, e164: str | None) -> None:
    assert normalise_phone(text) == e164


def test_phones_without_a_country_code_take_the_default_region() -> None:
    assert normalise_phone("02 9876 5432", region="AU") == "+61298765432"
    assert normalise_phone("(415) 555-0132", region="US") == "+14155550132"
    assert normalise_phone("+86 138 0013 8000", region="US") == "+8613800138000"


# --- e-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("zhang.wei@hzhuaxin.com.cn", "zhang.wei@hzhuaxin.com.cn"),
        (" Zhang.Wei@HZhuaxin.COM.cn ", "zhang.wei@hzhuaxin.com.cn"),
        ("ｚｈａｎｇ＠ｑｑ．ｃｏｍ", "zhang@qq.com"),
        ("zhang@qq。com", "zhang@qq.com"),
        ("mailto:Zhang@QQ.com", "zhang@qq.com"),
        ("<zhang@qq.com>", "zhang@qq.com"),
        ("zhang+crm@gmail.com", "zhang+crm@gmail.com"),
        ("zhang@localhost", None),
        ("zhang@qq", None),
        ("zhang@@qq.com", None),
        ("zhang@wei@qq.com", None),
        ("@qq.com", None),
        ("zhang@.com", None),
        ("zhang@qq..com", None),
        ("zhang wei@qq.com", None),
        ("zhang.qq.com", None),
        ("", None),
        (None, None),
    ],
)
def test_emails(text: str | None, email: str | None) -> None:
    assert normalise_email(text) == email


@pytest.mark.parametrize(
    ("email", "domain", "free"),
    [
        ("zhang.wei@hzhuaxin.com.cn", "hzhuaxin.com.cn", False),
        ("zhang@qq.com", "qq.com", True),
        ("zhang@163.com", "163.com", True),
        ("zhang@126.com", "126.com", True),
        ("zhang@foxmail.com", "foxmail.com", True),
        ("zhang@vip.163.com", "vip.163.com", True),
        ("john@gmail.com", "gmail.com", True),
        ("john@outlook.com", "outlook.com", True),
        ("john@acme.com", "acme.com", False),
    ],
)
def test_email_domains(email: str, domain: str, free: bool) -> None:
    assert email_domain(email) == domain
    assert is_free_mail_domain(domain) is free


# --- addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("杭州市滨江区江南大道3号", "杭州市滨江区江南大道3号"),
        ("浙江省杭州市滨江区江南大道3号", "杭州市滨江区江南大道3号"),
        ("中国浙江杭州滨江区江南大道3号", "杭州市滨江区江南大道3号"),
        ("杭州市 滨江区 江南大道 三号", "杭州市滨江区江南大道3号"),
        ("北京市朝阳区建国路八十八号", "北京市朝阳区建国路88号"),
        ("华信大厦十二层1203-1205室", "华信大厦12层1203-1205室"),
        ("3#楼二单元一百零五室", "3号楼2单元105室"),
        ("上海市浦東新區世紀大道１００號", "上海市浦东新区世纪大道100号"),
        ("中山东一路", "中山东一路"),  # a numeral not before 号 stays
        ("No. 88 Wensan Road, Room 1203", "88 wensan rd rm 1203"),
        ("88 Wensan Rd., Rm 1203", "88 wensan rd rm 1203"),
        ("12 Main Street, Floor 3", "12 main st fl 3"),
        ("", None),
        (None, None),
        (" ,. ", None),
    ],
)
def test_addresses(text: str | None, address: str | None) -> None:
    assert normalise_address(text) == address


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05", "2024-03-05"),
        ("2024/3/5", "2024-03-05"),
        ("2024.3.5", "2024-03-05"),
        ("2024年3月5日", "2024-03-05"),
        ("２０２４年３月５日", "2024-03-05"),
        ("20240305", "2024-03-05"),
        (" 2024-03-05 ", "2024-03-05"),
        ("2024-03-05 10:30:00", "2024-03-05"),
        ("2024-03-05T10:30:00Z", "2024-03-05"),
        ("5 March 2024", "2024-03-05"),
        ("March 5, 2024", "2024-03-05"),
        ("25/12/2024", "2024-12-25"),  # only one reading
        ("12/25/2024", "2024-12-25"),
        ("5/5/2024", "2024-05-05"),
        ("5/3/2024", None),  # 5 March or May 3: not guessed
        ("2023-02-29", None),
        ("2024-02-29", "2024-02-29"),
        ("2024-13-01", None),
        ("2024-04-31", None),
        ("20241301", None),
        ("24-03-05", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_dates(text: str | None, iso: str | None) -> None:
    assert normalise_date(text) == iso


# --- pinyin -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("华信", "huaxin"),
        ("華信", "huaxin"),
        ("华信 电子", "huaxindianzi"),
        ("吕", "lv"),
        ("Huaxin Electronics", "huaxinelectronics"),
        ("ABC科技", "abckeji"),
        ("Ａ１", "a1"),
        ("Café", "cafe"),
        ("", ""),
    ],
)
def test_pinyin(text: str, reading: str) -> None:
    assert pinyin(text) == reading


# --- credit codes (crm_core._credit_code) -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("91330106MA2B3C4D5X", None),  # a wrong check character
        ("91350100M000100Y43", "91350100M000100Y43"),
        (" ９１３５０１００ｍ０００１００ｙ４３ ", "91350100M000100Y43"),
    ],
)
def test_credit_codes(text: str, code: str | None) -> None:
    assert normalise_credit_code(text) == code
