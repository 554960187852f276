"""A gazetteer of Chinese regions, for telling the region in a company name from its brand.

It holds every province-level division, every prefecture-level one (and the county-level cities
governed by a province directly), and the districts and county-level cities of the big cities.
Each is known by its full name (浙江省, 杭州市, 滨江区), its short form (浙江, 杭州, 滨江), and,
above district level, its pinyin (zhejiang, hangzhou) for English names.

A district's short form is often an ordinary word or a brand (白云山, 西湖龙井, 南山, 光明乳业),
so at the start of a name a district counts only by its full name, except the suburbs marked
``*`` below, whose short forms people do write as places (杭州萧山, 苏州昆山). Inside brackets or
before 分公司 the whole text is a region or nothing, so any form counts there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

__all__ = ["Region", "match_place_words", "match_prefix", "match_prefix_words", "match_whole"]

# One line per province-level division: its full name (``/short`` where the suffix is not simply
# 省, 市 or 自治区), then its prefecture-level divisions. A municipality lists none.
_PROVINCES = """
北京市:
天津市:
上海市:
重庆市:
河北省: 石家庄市 唐山市 秦皇岛市 邯郸市 邢台市 保定市 张家口市 承德市 沧州市 廊坊市 衡水市
山西省: 太原市 大同市 阳泉市 长治市 晋城市 朔州市 晋中市 运城市 忻州市 临汾市 吕梁市
内蒙古自治区: 呼和浩特市 包头市 乌海市 赤峰市 通辽市 鄂尔多斯市 呼伦贝尔市 巴彦淖尔市 乌兰察布市
  兴安盟 锡林郭勒盟 阿拉善盟
辽宁省: 沈阳市 大连市 鞍山市 抚顺市 本溪市 丹东市 锦州市 营口市 阜新市 辽阳市 盘锦市 铁岭市
  朝阳市 葫芦岛市
吉林省: 长春市 吉林市 四平市 辽源市 通化市 白山市 松原市 白城市 延边朝鲜族自治州/延边
黑龙江省: 哈尔滨市 齐齐哈尔市 鸡西市 鹤岗市 双鸭山市 大庆市 伊春市 佳木斯市 七台河市 牡丹江市
  黑河市 绥化市 大兴安岭地区
江苏省: 南京市 无锡市 徐州市 常州市 苏州市 南通市 连云港市 淮安市 盐城市 扬州市 镇江市 泰州市
  宿迁市
浙江省: 杭州市 宁波市 温州市 嘉兴市 湖州市 绍兴市 金华市 衢州市 舟山市 台州市 丽水市
安徽省: 合肥市 芜湖市 蚌埠市 淮南市 马鞍山市 淮北市 铜陵市 安庆市 黄山市 滁州市 阜阳市 宿州市
  六安市 亳州市 池州市 宣城市
福建省: 福州市 厦门市 莆田市 三明市 泉州市 漳州市 南平市 龙岩市 宁德市
江西省: 南昌市 景德镇市 萍乡市 九江市 新余市 鹰潭市 赣州市 吉安市 宜春市 抚州市 上饶市
山东省: 济南市 青岛市 淄博市 枣庄市 东营市 烟台市 潍坊市 济宁市 泰安市 威海市 日照市 临沂市
  德州市 聊城市 滨州市 菏泽市
河南省: 郑州市 开封市 洛阳市 平顶山市 安阳市 鹤壁市 新乡市 焦作市 濮阳市 许昌市 漯河市
  三门峡市 南阳市 商丘市 信阳市 周口市 驻马店市 济源市
湖北省: 武汉市 黄石市 十堰市 宜昌市 襄阳市 鄂州市 荆门市 孝感市 荆州市 黄冈市 咸宁市 随州市
  恩施土家族苗族自治州/恩施 仙桃市 潜江市 天门市 神农架林区
湖南省: 长沙市 株洲市 湘潭市 衡阳市 邵阳市 岳阳市 常德市 张家界市 益阳市 郴州市 永州市 怀化市
  娄底市 湘西土家族苗族自治州/湘西
广东省: 广州市 韶关市 深圳市 珠海市 汕头市 佛山市 江门市 湛江市 茂名市 肇庆市 惠州市 梅州市
  汕尾市 河源市 阳江市 清远市 东莞市 中山市 潮州市 揭阳市 云浮市
广西壮族自治区/广西: 南宁市 柳州市 桂林市 梧州市 北海市 防城港市 钦州市 贵港市 玉林市 百色市
  贺州市 河池市 来宾市 崇左市
海南省: 海口市 三亚市 三沙市 儋州市
四川省: 成都市 自贡市 攀枝花市 泸州市 德阳市 绵阳市 广元市 遂宁市 内江市 乐山市 南充市 眉山市
  宜宾市 广安市 达州市 雅安市 巴中市 资阳市 阿坝藏族羌族自治州/阿坝 甘孜藏族自治州/甘孜
  凉山彝族自治州/凉山
贵州省: 贵阳市 六盘水市 遵义市 安顺市 毕节市 铜仁市 黔西南布依族苗族自治州/黔西南
  黔东南苗族侗族自治州/黔东南 黔南布依族苗族自治州/黔南
云南省: 昆明市 曲靖市 玉溪市 保山市 昭通市 丽江市 普洱市 临沧市 楚雄彝族自治州/楚雄
  红河哈尼族彝族自治州/红河 文山壮族苗族自治州/文山 西双版纳傣族自治州/西双版纳
  大理白族自治州/大理 德宏傣族景颇族自治州/德宏 怒江傈僳族自治州/怒江 迪庆藏族自治州/迪庆
西藏自治区: 拉萨市 日喀则市 昌都市 林芝市 山南市 那曲市 阿里地区/阿里地区
陕西省: 西安市 铜川市 宝鸡市 咸阳市 渭南市 延安市 汉中市 榆林市 安康市 商洛市
甘肃省: 兰州市 嘉峪关市 金昌市 白银市 天水市 武威市 张掖市 平凉市 酒泉市 庆阳市 定西市 陇南市
  临夏回族自治州/临夏 甘南藏族自治州/甘南
青海省: 西宁市 海东市 海北藏族自治州/海北 黄南藏族自治州/黄南 海南藏族自治州/海南州
  果洛藏族自治州/果洛 玉树藏族自治州/玉树 海西蒙古族藏族自治州/海西
宁夏回族自治区/宁夏: 银川市 石嘴山市 吴忠市 固原市 中卫市
新疆维吾尔自治区/新疆: 乌鲁木齐市 克拉玛依市 吐鲁番市 哈密市 昌吉回族自治州/昌吉
  博尔塔拉蒙古自治州/博尔塔拉 巴音郭楞蒙古自治州/巴音郭楞 阿克苏地区 克孜勒苏柯尔克孜自治州/克孜勒苏
  喀什地区 和田地区 伊犁哈萨克自治州/伊犁 塔城地区 阿勒泰地区
台湾省: 台北市 新北市 桃园市 台中市 台南市 高雄市 基隆市 新竹市 嘉义市
香港特别行政区:
澳门特别行政区:
"""

# One line per big city: its districts and county-level cities; ``*`` marks those whose short
# form also counts at the start of a name (see the module's docstring).
_DISTRICTS = """
北京市: 东城区 西城区 朝阳区 丰台区 石景山区 海淀区 门头沟区* 房山区* 通州区* 顺义区* 昌平区*
  大兴区* 怀柔区* 平谷区* 密云区* 延庆区*
上海市: 黄浦区 徐汇区 长宁区 静安区 普陀区 虹口区 杨浦区 闵行区* 宝山区 嘉定区* 浦东新区*
  金山区 松江区* 青浦区* 奉贤区* 崇明区*
天津市: 和平区 河东区 河西区 南开区 河北区 红桥区 东丽区 西青区 津南区 北辰区 武清区* 宝坻区*
  滨海新区 宁河区* 静海区* 蓟州区*
重庆市: 万州区* 涪陵区* 渝中区 大渡口区 江北区 沙坪坝区 九龙坡区 南岸区 北碚区 綦江区* 大足区*
  渝北区 巴南区 黔江区* 长寿区 江津区* 合川区* 永川区* 南川区* 璧山区* 铜梁区* 潼南区* 荣昌区*
  开州区* 梁平区* 武隆区* 城口县* 丰都县* 垫江县* 忠县 云阳县* 奉节县* 巫山县 巫溪县*
  石柱土家族自治县/石柱 秀山土家族苗族自治县/秀山 酉阳土家族苗族自治县/酉阳
  彭水苗族土家族自治县/彭水
广州市: 越秀区 海珠区 荔湾区 天河区 白云区 黄埔区 番禺区* 花都区* 南沙区 从化区* 增城区*
深圳市: 福田区 罗湖区 南山区 盐田区 宝安区* 龙岗区* 龙华区 坪山区 光明区
杭州市: 上城区 拱墅区 西湖区 滨江区 萧山区* 余杭区* 临平区* 钱塘区 富阳区* 临安区* 桐庐县*
  淳安县* 建德市*
苏州市: 姑苏区 虎丘区 吴中区* 相城区 吴江区* 常熟市* 张家港市* 昆山市* 太仓市*
南京市: 玄武区 秦淮区 建邺区 鼓楼区 浦口区* 栖霞区 雨花台区 江宁区* 六合区* 溧水区* 高淳区*
成都市: 锦江区 青羊区 金牛区 武侯区 成华区 龙泉驿区* 青白江区* 新都区* 温江区* 双流区* 郫都区*
  新津区* 都江堰市* 彭州市* 邛崃市* 崇州市* 简阳市* 金堂县* 大邑县* 蒲江县*
武汉市: 江岸区 江汉区 硚口区 汉阳区 武昌区 青山区 洪山区 东西湖区 汉南区* 蔡甸区* 江夏区*
  黄陂区* 新洲区*
西安市: 新城区 碑林区 莲湖区 灞桥区 未央区 雁塔区 阎良区* 临潼区* 长安区 高陵区* 鄠邑区*
  蓝田县* 周至县*
"""

_SUFFIXES = ("特别行政区", "自治区", "地区", "林区", "新区", "盟", "省", "市", "区", "县")
"""Stripped (the first that ends the name) to make a short form of two characters or more."""

_LATIN_OVERRIDES = {
    "陕西": ("shaanxi",),
    "内蒙古": ("neimenggu", "innermongolia"),
    "西藏": ("xizang", "tibet"),
    "香港": ("xianggang", "hongkong"),
    "澳门": ("aomen", "macau", "macao"),
    "台北": ("taibei", "taipei"),
    "高雄": ("gaoxiong", "kaohsiung"),
    "呼和浩特": ("huhehaote", "hohhot"),
    "鄂尔多斯": ("eerduosi", "ordos"),
    "哈尔滨": ("haerbin", "harbin"),
    "齐齐哈尔": ("qiqihaer", "qiqihar"),
    "乌鲁木齐": ("wulumuqi", "urumqi"),
    "拉萨": ("lasa", "lhasa"),
    "喀什": ("kashi", "kashgar"),
    "长治": ("changzhi",),
    "朝阳": ("chaoyang",),
    "漯河": ("luohe",),
    "锡林郭勒": ("xilinguole",),
    "昌都": ("changdu",),
    "阿里地区": ("ngari",),
}
"""English spellings other than pypinyin's reading of the short form (conventional spellings,
and readings it gets wrong: 长治 is Changzhi, not Zhangzhi)."""


@dataclass(frozen=True, slots=True)
class Region:
    """A division: its canonical short name, level (1 province, 2 city, 3 district) and parents."""

    name: str
    """The full name: 浙江省, 杭州市, 滨江区."""
    short: str
    """The canonical short form: 浙江, 杭州, 滨江; unique (吉林 is the province, 吉林市 the city),
    so :func:`match_whole` of it gives this division back."""
    level: int
    province: str
    """The short form of its province-level division (itself at level 1)."""
    city: str | None
    """The short form of its prefecture-level city (a municipality is its own city)."""

    def contains(self, other: Region) -> bool:
        """Whether ``other`` lies inside this division (and is not this division)."""
        if other.level <= self.level or other.province != self.province:
            return False
        return self.level == 1 or other.city == self.city


@dataclass(frozen=True, slots=True)
class _Gazetteer:
    strict: dict[str, tuple[Region, ...]]
    """Names that count at the start of a company name."""
    loose: dict[str, tuple[Region, ...]]
    """Every name: for a text that is wholly a region."""
    by_first: dict[str, tuple[str, ...]]
    """The strict names by their first character, longest first."""
    max_length: int


def _entries(block: str) -> list[tuple[str, list[str]]]:
    """The ``parent: children`` lines of a data block, continuation lines joined."""
    lines: list[tuple[str, list[str]]] = []
    for raw in block.strip().splitlines():
        if raw.startswith(" "):
            lines[-1][1].extend(raw.split())
        else:
            parent, _, children = raw.partition(":")
            lines.append((parent.strip(), children.split()))
    return lines


def _short(full: str) -> str:
    for suffix in _SUFFIXES:
        if full.endswith(suffix) and len(full) - len(suffix) >= 2:
            return full[: -len(suffix)]
    return full


def _parse(item: str) -> tuple[str, str, bool]:
    """``full[/short][*]`` -> full name, short form, whether the short form is strict."""
    starred = item.endswith("*")
    item = item.rstrip("*")
    full, _, short = item.partition("/")
    return full, short or _short(full), starred


@cache
def _regions() -> tuple[Region, ...]:
    """Every division. Short forms are unique: where a city's or district's would be taken by
    a wider division's (吉林市 and 吉林省, 朝阳区 and 朝阳市, 河北区 and 河北省), it keeps its
    full name, so that a short form always names the same division."""
    provinces = _entries(_PROVINCES)
    taken = {_parse(item)[1] for item, _ in provinces}
    regions: list[Region] = []
    cities: dict[str, Region] = {}

    def unique(full: str, short: str) -> str:
        short = full if short in taken else short
        taken.add(short)
        return short

    for province_item, city_items in provinces:
        full, short, _ = _parse(province_item)
        municipality = not city_items and full.endswith("市")
        province = Region(full, short, 1, short, short if municipality else None)
        regions.append(province)
        if municipality:
            cities[full] = province
        for city_item in city_items:
            city_full, city_short, _ = _parse(city_item)
            city_short = unique(city_full, city_short)
            city = Region(city_full, city_short, 2, short, city_short)
            regions.append(city)
            cities[city_full] = city
    for city_full, district_items in _entries(_DISTRICTS):
        parent = cities[city_full]
        for item in district_items:
            full, short, _ = _parse(item)
            regions.append(Region(full, unique(full, short), 3, parent.province, parent.city))
    return tuple(regions)


@cache
def _strict_shorts() -> frozenset[str]:
    shorts = {_parse(item)[1] for _, items in _entries(_DISTRICTS) for item in items if "*" in item}
    return frozenset(shorts)


def _add(index: dict[str, tuple[Region, ...]], name: str, region: Region) -> None:
    if region not in index.get(name, ()):
        index[name] = (*index.get(name, ()), region)


@cache
def _gazetteer() -> _Gazetteer:
    strict: dict[str, tuple[Region, ...]] = {}
    loose: dict[str, tuple[Region, ...]] = {}
    starred = _strict_shorts()
    for region in _regions():
        names = {region.name, region.short}
        for name in names:
            _add(loose, name, region)
            if name == region.name or region.level < 3 or name in starred:
                _add(strict, name, region)
    by_first: dict[str, list[str]] = {}
    for name in strict:
        by_first.setdefault(name[0], []).append(name)
    return _Gazetteer(
        strict=strict,
        loose=loose,
        by_first={
            first: tuple(sorted(names, key=len, reverse=True)) for first, names in by_first.items()
        },
        max_length=max(len(name) for name in loose),
    )


@cache
def _latin() -> dict[str, tuple[Region, ...]]:
    """English spellings (pinyin without spaces) of provinces and cities."""
    from pypinyin import Style, lazy_pinyin  # noqa: PLC0415 (only English names need it)

    index: dict[str, tuple[Region, ...]] = {}
    for region in _regions():
        if region.level == 3:
            continue
        spellings = _LATIN_OVERRIDES.get(region.short)
        if spellings is None:
            spellings = ("".join(lazy_pinyin(region.short, style=Style.NORMAL)),)
        for spelling in spellings:
            _add(index, spelling, region)
    return index


def _pick(candidates: tuple[Region, ...], inside: Region | None) -> Region | None:
    """The candidate inside ``inside`` (any, preferring the widest, when there is no context)."""
    if inside is None:
        if len(candidates) == 1:
            return candidates[0]
        return min(candidates, key=lambda region: region.level)
    for region in candidates:
        if inside.contains(region):
            return region
    return None


def match_prefix(text: str) -> list[tuple[int, Region]]:
    """The regions that ``text`` starts with, each inside the one before (浙江省杭州市滨江区) or
    the same again, as (end position, region); empty when it starts with none."""
    gazetteer = _gazetteer()
    found: list[tuple[int, Region]] = []
    position = 0
    inside: Region | None = None
    while position < len(text):
        for name in gazetteer.by_first.get(text[position], ()):
            if not text.startswith(name, position):
                continue
            end = position + len(name)
            if name[-1] in "市区" and text.startswith(("市场", "区域"), end - 1):
                continue  # 苏州市场营销: 苏州 and a market, not 苏州市
            candidates = gazetteer.strict[name]
            region = _pick(candidates, inside)
            if region is None and inside in candidates:
                region = inside  # 苏州苏州华信, 杭州市杭州华信: a region written twice
            if region is not None:
                found.append((end, region))
                position, inside = end, region
                break
        else:
            break
    return found


def match_whole(text: str) -> Region | None:
    """The most specific region when ``text`` is nothing but regions (杭州, 浙江杭州, 滨江区,
    杭州市滨江区), else None."""
    gazetteer = _gazetteer()
    region = _pick(gazetteer.loose[text], None) if text in gazetteer.loose else None
    if region is not None:
        return region
    position = 0
    inside: Region | None = None
    while position < len(text):
        for length in range(min(gazetteer.max_length, len(text) - position), 1, -1):
            candidates = gazetteer.loose.get(text[position : position + length])
            found = _pick(candidates, inside) if candidates else None
            if found is not None:
                position += length
                inside = found
                break
        else:
            return None
    return inside


def _ambiguous(candidates: tuple[Region, ...]) -> bool:
    """Whether one spelling names unrelated places (suzhou: 苏州 and 宿州), not a province and
    its namesake city (jilin)."""
    widest = min(candidates, key=lambda region: region.level)
    return any(region is not widest and not widest.contains(region) for region in candidates)


def match_prefix_words(words: list[str]) -> list[tuple[int, Region | None]]:
    """Like :func:`match_prefix` for the words of an English name (``hangzhou``, ``hong kong``):
    (number of words, region) pairs; the region is None for a spelling of two unrelated places
    (Suzhou, Taizhou, Fuzhou), which is a place all the same."""
    index = _latin()
    found: list[tuple[int, Region | None]] = []
    position = 0
    inside: Region | None = None
    while position < len(words):
        for length in (2, 1):
            spelling = "".join(words[position : position + length])
            candidates = index.get(spelling) if position + length <= len(words) else None
            if not candidates:
                continue
            region = _pick(candidates, inside)
            if region is None and inside is not None:
                continue
            if inside is None and _ambiguous(candidates):
                region = None
            position += length
            found.append((position, region))
            inside = region
            break
        else:
            break
    return found


def match_place_words(words: list[str]) -> tuple[bool, Region | None]:
    """Whether the words are nothing but places, and the most specific region they name (None
    when the spelling does not tell which: Suzhou)."""
    found = match_prefix_words(words)
    if found and found[-1][0] == len(words):
        return True, found[-1][1]
    return False, None
