"""Realistic Chinese company (account) records with known duplicates: the labelled evaluation set
of the dedup benchmark.

Each record has the account columns of ``tongbu dedup csv`` (``id, name, credit_code, phone,
email, address, city, contact_name``) and belongs to a known entity (a legal entity: a company or
a branch). The stream is deterministic for a seed, flat in memory (records are shuffled in a
window of 5,000, and a fixed 16 MB bitmap keeps names and mail domains apart: about 140 MB
whatever the count), and fast enough: a million rows in under a minute on a 2-core machine
(55-58 s measured while other jobs shared it). ::

    .venv/bin/python bench/data/companies.py --rows 1000000 -o accounts.csv --truth truth.csv

    from data.companies import generate         # with bench/ on sys.path
    for row, entity in generate(10_000, seed=1): ...

**Entities.** A company is a region (its city), a 2-3 character brand, an industry word (电子科技,
贸易, 机械制造, 生物医药, 信息技术, 建筑工程 and 36 more) and a legal form (有限公司 62 %,
有限责任公司 18 %, 股份有限公司 12 %, 集团有限公司 8 %; a group usually has no industry word):
杭州华信电子科技有限公司. Its city (52 cities, weighted by size) gives the district, the unified
social credit code (``91`` + the district's division code + a 9-character organisation code with
its GB 11714 check + the GB 32100 check character), the area code of a landline (65 %; else a
mobile, 13x-19x), and an address (province, city, district, road, number, often a building and
room). The e-mail is at the company's own domain, made from the brand's pinyin (60 %), a free-mail
address (28 %: qq.com, 163.com, 126.com, ...), or missing (12 %). The contact is a Chinese name
with surnames by frequency, compound ones (欧阳, 司马, 诸葛, ...) included. No two independent
companies share a name in one city (city + brand + industry), nor a mail domain.

**Duplicates.** 75 % of entities have one record; 13 % have 2, 6.5 % have 3, 3.5 % have 4 and 2 %
have 5 (25 % with 2-5 records). The first record is the entity as registered, with fields missing
as in real data (credit code 25 %, e-mail as above, phone 5 %, address 10 %, contact 15 %, city
5 %). Each further record varies, each change with its own probability:

* name: 有限公司 ↔ 有限责任公司 (股份公司, 集团公司 for the others) 20 %, legal form dropped 5 %,
  "Co., Ltd." for the legal form 1.5 %, the whole name in English 1 %; the region in brackets
  (华信电子科技(杭州)有限公司, half or full width) 10 %, dropped 7 %, the province added 5 %; a
  homophone typo in the brand (华信 → 华鑫; from pypinyin over the 3,755 common characters when it
  is installed, else a built-in table) 5 %; a stray space 3 %;
* the whole record in traditional characters 4 % (opencc s2t when installed, else a built-in
  table); full-width digits, letters and brackets 5 %;
* credit code: missing 30 %, wrong (one character changed or two swapped, so that its check
  fails) 4 %, lower case 2 %;
* phone: missing 15 %, another number (the company's other line, or the contact's mobile) 15 %,
  written another way 35 % (+86 prefix, spaces, dashes, (0571), no area code, an extension);
* e-mail: missing 25 %, another address (another mailbox of the domain, or the contact's free
  mail) 20 %, upper case 2 %;
* address: missing 15 %, otherwise written differently (province, 市, district and building each
  present or not), the house number mistyped 3 %; city: missing 10 %, with or without 市;
* contact: missing 20 %, another person 20 %, in pinyin (Zhang Wei) 1 %.

**Hard negatives** (distinct entities that look alike), drawn per independent company:

* the same brand, industry and legal form in another city, with its own code, phone, domain and
  contact (杭州华信电子科技有限公司 vs 苏州华信电子科技有限公司): 6 % (one or two);
* branches (杭州华信电子科技有限公司滨江分公司; 80 % in another district of the city, 20 % in
  another city): 4 % have one to three; a branch has its own credit code, shares the head office's
  mail domain and, in its city, the first four digits of its landline;
* sister companies (the same brand with another industry word, or the group itself), at the same
  address with the same contact (the boss): 3 % have one or two; 30 % share the phone and 40 % the
  mail domain;
* shared contact points: 2 % of companies use a switchboard phone and 2 % a free-mail address
  shared with other companies of their city (a business centre, an accountant), about a dozen
  companies each.

At 100,000 rows this gives about 69,000 entities, 25 % of them with 2-5 records and 15 % made as
hard negatives of another, and about 51,000 true pairs; each row has a unique ``id`` (``A`` + 8
digits) and the truth file lists ``id,entity_id``. The records come from fixed tables and the
seed only; whether opencc and pypinyin are installed changes the traditional characters and the
homophones chosen, nothing else, so a data set is reproducible for a seed in one environment.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from crm_core.dedup import credit_code_check_char

__all__ = ["COLUMNS", "generate", "main", "write"]

COLUMNS = ("id", "name", "credit_code", "phone", "email", "address", "city", "contact_name")
"""The account columns, in the order they are written."""

Row = tuple[str, ...]
"""A record without its id: name, credit_code, phone, email, address, city, contact_name."""

# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

# city|province|pinyin syllables|city code|area code|weight, then its districts (each name and
# division code) on the indented lines that follow
_CITIES = """
北京|北京市|bei jing|110000|010|90
    东城区110101 西城区110102 朝阳区110105 丰台区110106 海淀区110108 通州区110112 大兴区110115
    昌平区110114
上海|上海市|shang hai|310000|021|100
    黄浦区310101 徐汇区310104 长宁区310105 静安区310106 普陀区310107 杨浦区310110 闵行区310112
    浦东新区310115 嘉定区310114 松江区310117
天津|天津市|tian jin|120000|022|30
    和平区120101 河西区120103 南开区120104 河北区120105 滨海新区120116 西青区120111
重庆|重庆市|chong qing|500000|023|30
    渝中区500103 江北区500105 沙坪坝区500106 九龙坡区500107 南岸区500108 渝北区500112
杭州|浙江省|hang zhou|330100|0571|45
    上城区330102 拱墅区330105 西湖区330106 滨江区330108 萧山区330109 余杭区330110
宁波|浙江省|ning bo|330200|0574|22
    海曙区330203 江北区330205 北仑区330206 鄞州区330212 镇海区330211
温州|浙江省|wen zhou|330300|0577|15
    鹿城区330302 龙湾区330303 瓯海区330304
嘉兴|浙江省|jia xing|330400|0573|8
    南湖区330402 秀洲区330411
绍兴|浙江省|shao xing|330600|0575|8
    越城区330602 柯桥区330603 上虞区330604
金华|浙江省|jin hua|330700|0579|9
    婺城区330702 金东区330703
台州|浙江省|tai zhou|331000|0576|8
    椒江区331002 黄岩区331003 路桥区331004
南京|江苏省|nan jing|320100|025|35
    玄武区320102 秦淮区320104 建邺区320105 鼓楼区320106 江宁区320115 栖霞区320113
苏州|江苏省|su zhou|320500|0512|40
    虎丘区320505 吴中区320506 相城区320507 姑苏区320508 吴江区320509
无锡|江苏省|wu xi|320200|0510|18
    锡山区320205 惠山区320206 滨湖区320211 梁溪区320213 新吴区320214
常州|江苏省|chang zhou|320400|0519|12
    天宁区320402 钟楼区320404 新北区320411 武进区320412
徐州|江苏省|xu zhou|320300|0516|8
    鼓楼区320302 云龙区320303 泉山区320311
南通|江苏省|nan tong|320600|0513|9
    通州区320612 崇川区320613 海门区320614
扬州|江苏省|yang zhou|321000|0514|6
    广陵区321002 邗江区321003 江都区321012
广州|广东省|guang zhou|440100|020|60
    荔湾区440103 越秀区440104 海珠区440105 天河区440106 白云区440111 黄埔区440112 番禺区440113
深圳|广东省|shen zhen|440300|0755|70
    罗湖区440303 福田区440304 南山区440305 宝安区440306 龙岗区440307 龙华区440309
东莞|广东省|dong guan|441900|0769|25
    东城街道441900 南城街道441900 长安镇441900 虎门镇441900 松山湖441900
佛山|广东省|fo shan|440600|0757|20
    禅城区440604 南海区440605 顺德区440606
珠海|广东省|zhu hai|440400|0756|8
    香洲区440402 斗门区440403 金湾区440404
中山|广东省|zhong shan|442000|0760|8
    石岐街道442000 东区街道442000 小榄镇442000
惠州|广东省|hui zhou|441300|0752|7
    惠城区441302 惠阳区441303
成都|四川省|cheng du|510100|028|40
    锦江区510104 青羊区510105 金牛区510106 武侯区510107 成华区510108 双流区510116
武汉|湖北省|wu han|420100|027|30
    江岸区420102 江汉区420103 硚口区420104 武昌区420106 洪山区420111 东西湖区420112
西安|陕西省|xi an|610100|029|25
    新城区610102 碑林区610103 莲湖区610104 雁塔区610113 未央区610112
郑州|河南省|zheng zhou|410100|0371|22
    中原区410102 二七区410103 金水区410105 管城回族区410104
长沙|湖南省|chang sha|430100|0731|20
    芙蓉区430102 天心区430103 岳麓区430104 开福区430105 雨花区430111
济南|山东省|ji nan|370100|0531|18
    历下区370102 市中区370103 槐荫区370104 天桥区370105 历城区370112
青岛|山东省|qing dao|370200|0532|20
    市南区370202 市北区370203 黄岛区370211 崂山区370212 李沧区370213 城阳区370214
烟台|山东省|yan tai|370600|0535|8
    芝罘区370602 福山区370611 莱山区370613
潍坊|山东省|wei fang|370700|0536|7
    潍城区370702 寒亭区370703 奎文区370705
合肥|安徽省|he fei|340100|0551|18
    瑶海区340102 庐阳区340103 蜀山区340104 包河区340111
福州|福建省|fu zhou|350100|0591|15
    鼓楼区350102 台江区350103 仓山区350104 晋安区350111
厦门|福建省|xia men|350200|0592|15
    思明区350203 海沧区350205 湖里区350206 集美区350211
泉州|福建省|quan zhou|350500|0595|12
    鲤城区350502 丰泽区350503 洛江区350504
南昌|江西省|nan chang|360100|0791|12
    东湖区360102 西湖区360103 青云谱区360104 青山湖区360111
沈阳|辽宁省|shen yang|210100|024|15
    和平区210102 沈河区210103 大东区210104 皇姑区210105 铁西区210106
大连|辽宁省|da lian|210200|0411|12
    中山区210202 西岗区210203 沙河口区210204 甘井子区210211
哈尔滨|黑龙江省|ha er bin|230100|0451|10
    道里区230102 南岗区230103 道外区230104 松北区230109
长春|吉林省|chang chun|220100|0431|9
    南关区220102 宽城区220103 朝阳区220104 二道区220105
石家庄|河北省|shi jia zhuang|130100|0311|10
    长安区130102 桥西区130104 新华区130105 裕华区130108
太原|山西省|tai yuan|140100|0351|8
    小店区140105 迎泽区140106 杏花岭区140107
昆明|云南省|kun ming|530100|0871|10
    五华区530102 盘龙区530103 官渡区530111 西山区530112
贵阳|贵州省|gui yang|520100|0851|8
    南明区520102 云岩区520103 花溪区520111
南宁|广西壮族自治区|nan ning|450100|0771|8
    兴宁区450102 青秀区450103 江南区450105 西乡塘区450107
海口|海南省|hai kou|460100|0898|5
    秀英区460105 龙华区460106 琼山区460107 美兰区460108
兰州|甘肃省|lan zhou|620100|0931|5
    城关区620102 七里河区620103 西固区620104 安宁区620105
乌鲁木齐|新疆维吾尔自治区|wu lu mu qi|650100|0991|5
    天山区650102 沙依巴克区650103 新市区650104 水磨沟区650105
呼和浩特|内蒙古自治区|hu he hao te|150100|0471|4
    新城区150102 回民区150103 玉泉区150104 赛罕区150105
"""

_PROVINCE_SHORT = {
    "浙江省": "浙江",
    "江苏省": "江苏",
    "广东省": "广东",
    "四川省": "四川",
    "湖北省": "湖北",
    "陕西省": "陕西",
    "河南省": "河南",
    "湖南省": "湖南",
    "山东省": "山东",
    "安徽省": "安徽",
    "福建省": "福建",
    "江西省": "江西",
    "辽宁省": "辽宁",
    "黑龙江省": "黑龙江",
    "吉林省": "吉林",
    "河北省": "河北",
    "山西省": "山西",
    "云南省": "云南",
    "贵州省": "贵州",
    "广西壮族自治区": "广西",
    "海南省": "海南",
    "甘肃省": "甘肃",
    "新疆维吾尔自治区": "新疆",
    "内蒙古自治区": "内蒙古",
}

# industry word|English|domain abbreviation|weight
_INDUSTRIES = """
电子科技|Electronic Technology|tech|9
信息技术|Information Technology|it|7
网络科技|Network Technology|net|6
软件技术|Software Technology|soft|4
智能科技|Intelligent Technology|ai|4
光电科技|Optoelectronic Technology|gd|2
贸易|Trading|trade|9
商贸|Commerce and Trade|sm|5
进出口|Import and Export|ie|3
实业|Industrial|sy|4
机械制造|Machinery Manufacturing|jx|5
机电设备|Electromechanical Equipment|jd|3
生物医药|Biomedicine|bio|3
医疗器械|Medical Instruments|med|3
建筑工程|Construction Engineering|jz|4
装饰工程|Decoration Engineering|zs|3
房地产开发|Real Estate Development|fdc|2
物业管理|Property Management|wy|2
物流|Logistics|wl|4
供应链管理|Supply Chain Management|scm|2
食品|Foods|food|3
餐饮管理|Catering Management|cy|2
服装|Garment|fz|3
纺织|Textile|tex|2
化工|Chemical|chem|2
新材料|New Materials|xcl|2
环保科技|Environmental Technology|hb|2
新能源科技|New Energy Technology|xny|2
汽车零部件|Auto Parts|auto|2
电气|Electric|dq|2
仪器仪表|Instruments|yq|1
文化传媒|Culture Media|media|3
广告|Advertising|ad|2
教育科技|Education Technology|edu|2
企业管理咨询|Management Consulting|zx|3
投资管理|Investment Management|tz|2
金属制品|Metal Products|metal|2
塑料制品|Plastic Products|sl|1
包装材料|Packaging Materials|bz|1
农业开发|Agricultural Development|ny|1
家具|Furniture|jj|1
印刷|Printing|ys|1
"""

_FORMS = (("有限公司", 62), ("有限责任公司", 18), ("股份有限公司", 12), ("集团有限公司", 8))
_GROUP = 3
"""Index of 集团有限公司 in _FORMS."""
_FORM_VARIANTS = {
    "有限公司": ("有限责任公司",),
    "有限责任公司": ("有限公司",),
    "股份有限公司": ("股份公司", "有限公司"),
    "集团有限公司": ("集团公司", "集团", "集团有限责任公司"),
}

_BRAND_CHARS = """
华hua 信xin 宏hong 达da 恒heng 通tong 盛sheng 鑫xin 源yuan 泰tai 兴xing 隆long 昌chang 荣rong
祥xiang 瑞rui 丰feng 和he 安an 嘉jia 德de 利li 宇yu 天tian 海hai 中zhong 金jin 永yong 正zheng
联lian 创chuang 新xin 科ke 博bo 远yuan 航hang 卓zhuo 越yue 智zhi 汇hui 鼎ding 辉hui 明ming
诚cheng 东dong 方fang 宝bao 亿yi 万wan 众zhong 合he 康kang 润run 晨chen 光guang 星xing 辰chen
腾teng 飞fei 凯kai 旭xu 锦jin 裕yu 广guang 益yi 启qi 骏jun 峰feng 佳jia 美mei 富fu 鸿hong
运yun 立li 诺nuo 威wei 振zhen 国guo 豪hao 云yun 龙long 凤feng 瀚han 楚chu 蓝lan 青qing 川chuan
江jiang 山shan 森sen 林lin 宸chen 璟jing 睿rui 帆fan 驰chi 捷jie 迅xun 力li 能neng 聚ju 融rong
汉han 唐tang 京jing 沪hu 粤yue 浙zhe 苏su 蜀shu 晋jin 豫yu 鲁lu 闽min 湘xiang 赣gan 皖wan
乐le 欣xin 悦yue 百bai 千qian 顺shun 景jing 曜yao 晟sheng 铭ming 钧jun 锐rui 勤qin 实shi 友you
邦bang 伟wei 业ye 世shi 纪ji 元yuan 升sheng 图tu 格ge 维wei 特te 思si 迪di 尔er 奥ao 普pu
斯si 克ke 泓hong 骅hua 昊hao 鹏peng 翔xiang 志zhi 成cheng 惠hui 协xie 力li 展zhan 拓tuo
"""

# surname|pinyin|weight (per mille); the surname readings of 单 曾 仇 朴 区 解 are the ones used
_SURNAMES = """
王|wang|71 李|li|70 张|zhang|68 刘|liu|54 陈|chen|46 杨|yang|31 黄|huang|24 赵|zhao|23 吴|wu|20
周|zhou|19 徐|xu|14 孙|sun|14 马|ma|13 朱|zhu|12 胡|hu|12 郭|guo|11 何|he|11 高|gao|10 林|lin|10
罗|luo|9 郑|zheng|9 梁|liang|9 谢|xie|7 宋|song|7 唐|tang|7 许|xu|6 韩|han|6 冯|feng|6 邓|deng|6
曹|cao|6 彭|peng|6 曾|zeng|5 肖|xiao|5 田|tian|5 董|dong|5 袁|yuan|4 潘|pan|4 于|yu|4 蒋|jiang|4
蔡|cai|4 余|yu|4 杜|du|4 叶|ye|4 程|cheng|4 苏|su|3 魏|wei|3 吕|lv|3 丁|ding|3 任|ren|3 沈|shen|3
姚|yao|3 卢|lu|3 姜|jiang|3 崔|cui|3 钟|zhong|3 谭|tan|3 陆|lu|3 汪|wang|3 范|fan|3 金|jin|3
石|shi|3 廖|liao|3 贾|jia|3 夏|xia|3 韦|wei|2 付|fu|2 方|fang|2 白|bai|2 邹|zou|2 孟|meng|2
熊|xiong|2 秦|qin|2 邱|qiu|2 江|jiang|2 尹|yin|2 薛|xue|2 闫|yan|2 段|duan|2 雷|lei|2 侯|hou|2
龙|long|2 史|shi|2 陶|tao|2 黎|li|2 贺|he|2 顾|gu|2 毛|mao|2 郝|hao|2 龚|gong|2 邵|shao|2
万|wan|2 钱|qian|2 严|yan|2 覃|qin|1 武|wu|1 戴|dai|1 莫|mo|1 孔|kong|1 向|xiang|1 汤|tang|1
单|shan|1 仇|qiu|1 朴|piao|1 区|ou|1 解|xie|1 欧阳|ouyang|1 司马|sima|1 诸葛|zhuge|1
上官|shangguan|1 东方|dongfang|1 司徒|situ|1 慕容|murong|1 皇甫|huangfu|1 令狐|linghu|1
夏侯|xiahou|1 尉迟|yuchi|1 公孙|gongsun|1 端木|duanmu|1
"""

_GIVEN_CHARS = """
伟wei 芳fang 娜na 敏min 静jing 丽li 强qiang 磊lei 军jun 洋yang 勇yong 艳yan 杰jie 娟juan 涛tao
明ming 超chao 秀xiu 霞xia 平ping 刚gang 桂gui 英ying 华hua 玉yu 萍ping 红hong 建jian 国guo
文wen 辉hui 鹏peng 斌bin 宇yu 浩hao 凯kai 健jian 俊jun 帆fan 帅shuai 旭xu 宁ning 龙long 林lin
欢huan 阳yang 晓xiao 婷ting 雪xue 琳lin 晨chen 倩qian 颖ying 佳jia 慧hui 梅mei 兰lan 志zhi
海hai 波bo 飞fei 峰feng 亮liang 成cheng 东dong 春chun 玲ling 燕yan 鑫xin 博bo 子zi 轩xuan
涵han 睿rui 欣xin 怡yi 泽ze 思si 雨yu 嘉jia 梓zi 诗shi 一yi 家jia 振zhen 永yong 立li 新xin
"""

_ROADS_TEXT = """
人民路 解放路 中山路 建设路 和平路 文化路 新华路 学院路 长江路 黄河路 延安路 科技路 高新大道
创业路 工业大道 滨江路 环城东路 世纪大道 东方路 迎宾大道 光明路 胜利路 幸福路 青年路 朝阳路
五一路 八一路 民主路 建国路 复兴路 金桥路 创新大道 软件园路 文三路 江南大道 深南大道 天府大道
珠江路 华山路 泰山路 北京路 南京东路 上海路 湖滨路 龙华路 解放北路 中山南路 人民东路 滨河路
"""
_ROADS = tuple(_ROADS_TEXT.split())
_BUILDING_KINDS = ("大厦", "广场", "中心", "国际中心", "科技园", "商务楼", "大楼")
_GENERIC_MAILBOXES = ("info", "sales", "service", "contact", "admin", "office", "hr", "market")
_FREE_MAIL = (("qq.com", 40), ("163.com", 25), ("126.com", 10), ("foxmail.com", 6), ("sina.com", 5))
_FREE_MAIL_MORE = (("139.com", 5), ("aliyun.com", 3), ("hotmail.com", 4), ("gmail.com", 2))
_TLDS = (("com", 50), ("com.cn", 30), ("cn", 15), ("net", 5))
_MOBILE_PREFIXES = tuple(
    str(prefix)
    for prefix in (
        *range(130, 140),
        *range(150, 154),
        *range(155, 160),
        *(166, 173, 176, 177, 178),
        *range(180, 184),
        *range(185, 190),
        *(191, 193, 195, 198, 199),
    )
)

# Simplified -> traditional for the characters of these tables, when opencc is not installed.
_S2T_PAIRS = (
    "华華电電贸貿机機制製医醫药藥术術筑築责責团團进進络絡软軟设設备備疗療装裝饰飾产產发發业業链鏈"
    "应應饮飲务務纺紡织織环環车車气氣仪儀传傳广廣询詢咨諮资資属屬农農开開网網学學实實国國际際东東"
    "门門阳陽苏蘇宁寧温溫兴興绍紹湾灣锡錫扬揚汉漢郑鄭长長岛島烟煙潍濰厦廈连連尔爾滨濱庄莊贵貴兰蘭"
    "乌烏鲁魯齐齊庆慶区區县縣镇鎮号號楼樓层層栋棟园園场場达達荣榮丰豐联聯创創远遠汇匯辉輝诚誠宝寶"
    "亿億万萬众眾润潤腾騰飞飛凯凱锦錦启啟骏駿鸿鴻运運诺諾云雲龙龍凤鳳蓝藍绿綠驰馳动動沪滬粤粵晋晉"
    "闽閩赣贛辽遼乐樂悦悅顺順铭銘钧鈞锐銳伟偉纪紀图圖维維奥奧张張刘劉陈陳杨楊黄黃赵趙吴吳孙孫马馬"
    "罗羅谢謝许許韩韓冯馮邓鄧蒋蔣叶葉吕呂卢盧钟鍾谭譚陆陸贾賈韦韋邹鄒闫閆贺賀顾顧龚龔钱錢严嚴汤湯"
    "欧歐诸諸迟遲静靜丽麗强強军軍艳豔杰傑涛濤刚剛红紅鹏鵬帅帥欢歡晓曉颖穎泽澤诗詩轩軒无無陕陝壮壯"
    "肃肅内內闵閔坝壩萧蕭仑侖瓯甌桥橋宾賓胜勝复復协協拓拓骅驊昊昊惠惠杭杭鹿鹿宽寬罘罘岭嶺乡鄉庐廬"
    "历歷荫蔭盘盤岳嶽芙芙硚礄碑碑莲蓮琼瓊兰蘭谱譜鲤鯉晋晉宫宮"
)
# Characters with the same toneless reading, for brand typos when pypinyin is not installed.
_HOMOPHONE_GROUPS = (
    "华化花桦骅 信新鑫欣心芯馨昕 宏鸿红弘泓虹 达大答 恒衡横 通同童彤桐 盛胜升晟圣 源元远原园圆缘 "
    "泰太台态 兴星行形 隆龙珑 昌长常畅 荣融蓉容榕 祥翔湘相香向 瑞锐睿蕊 丰峰锋风枫凤 嘉佳家加 德得 "
    "利立力丽理黎 宇裕豫玉雨羽煜昱 天田添 金锦晋今进津 永勇咏涌 正政征铮峥 创闯 科克可柯 博波柏泊 "
    "智志致之知芝 汇辉惠慧徽晖会 鼎定丁顶 明铭名鸣 诚成城程承 东冬动栋 方芳房 宝保堡 "
    "亿益艺怡逸翼易一意 万湾皖婉 众中忠钟仲 康抗 润闰 晨辰宸臣琛 光广 腾藤 飞菲斐非 凯开楷铠 "
    "旭许序绪栩 骏俊君军峻钧 美梅玫 富福府复甫阜 威伟维卫薇蔚炜 云运韵芸 豪浩昊好皓 瀚汉翰涵韩 "
    "京景晶精静璟靖 乐勒 越悦跃月粤岳 顺舜 曜耀瑶尧遥 启琪奇齐麒骐 安岸按 航杭 卓桌 联连莲廉 "
    "和合河禾 海亥 楚础储 蓝兰岚 青清庆 川传船 江疆姜 山衫珊 森 林琳霖临 帆凡繁 驰池迟 捷杰洁 "
    "迅讯逊 能 聚巨具 唐堂棠 沪虎户 浙哲 苏素 蜀曙 鲁路 闽敏 赣干 百柏 千前 实时石 友有 邦帮 "
    "业叶 世市 纪记继 图途 格阁 特 思斯丝 迪笛 尔而 奥澳 普浦 鹏朋 协谐 展 拓"
)

# --------------------------------------------------------------------------------------------
# Probabilities (see the module docstring)
# --------------------------------------------------------------------------------------------

RECORDS_PER_ENTITY = ((1, 75.0), (2, 13.0), (3, 6.5), (4, 3.5), (5, 2.0))
P_OTHER_CITY = 0.06
P_BRANCHES = 0.04
P_SISTERS = 0.03
P_SHARED_PHONE = 0.02
P_SHARED_EMAIL = 0.02
SHARED_PER_POOL_ENTRY = 12
"""About how many companies share one switchboard or one free-mail address."""

WINDOW = 5_000
"""Records are shuffled within a window of this many, so an entity's records are apart."""
BITMAP_BITS = 1 << 27
"""16 MB of bits: names (city + brand + industry) and mail domains already taken."""


# --------------------------------------------------------------------------------------------
# Parsed tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class District:
    """A district (or a town) of a city."""

    name: str
    short: str
    code: str


@dataclass(frozen=True, slots=True)
class City:
    """A city with its province, pinyin, division code, area code and districts."""

    name: str
    province: str
    province_short: str
    syllables: tuple[str, ...]
    code: str
    area: str
    districts: tuple[District, ...]
    municipality: bool
    """Beijing, Shanghai, Tianjin, Chongqing: the city is its own province."""
    pinyin: str
    """The city's name in pinyin, capitalised: Hangzhou."""
    initials: str
    """The initials of the city's syllables: hz."""


@dataclass(frozen=True, slots=True)
class Industry:
    """An industry word of a company name."""

    word: str
    english: str
    abbreviation: str


def _short_district(name: str) -> str:
    """The district's name as a branch uses it: 滨江区 → 滨江, 浦东新区 → 浦东."""
    for suffix in ("新区", "回族区", "街道", "区", "镇"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _parse_cities() -> tuple[list[City], list[float]]:
    """The cities of _CITIES and their weights."""
    cities: list[City] = []
    weights: list[float] = []
    entries: list[list[str]] = []
    for line in _CITIES.strip().splitlines():
        if line.startswith(" "):
            entries[-1][-1] += line
        else:
            entries.append([*line.split("|"), ""])
    for name, province, syllables, code, area, weight, districts in entries:
        parsed = tuple(
            District(item[:-6], _short_district(item[:-6]), item[-6:]) for item in districts.split()
        )
        short = _PROVINCE_SHORT.get(province, province.removesuffix("市"))
        pinyin = syllables.split()
        cities.append(
            City(
                name,
                province,
                short,
                tuple(pinyin),
                code,
                area,
                parsed,
                municipality=province == name + "市",
                pinyin="".join(pinyin).capitalize(),
                initials="".join(syllable[0] for syllable in pinyin),
            )
        )
        weights.append(float(weight))
    return cities, weights


def _parse_industries() -> tuple[list[Industry], list[float]]:
    """The industry words of _INDUSTRIES and their weights."""
    industries: list[Industry] = []
    weights: list[float] = []
    for line in _INDUSTRIES.strip().splitlines():
        word, english, abbreviation, weight = line.split("|")
        industries.append(Industry(word, english, abbreviation))
        weights.append(float(weight))
    return industries, weights


def _parse_chars(table: str) -> dict[str, str]:
    """``华hua 信xin`` → {华: hua, 信: xin}."""
    return {item[0]: item[1:] for item in table.split()}


def _parse_surnames() -> tuple[list[tuple[str, str]], list[float]]:
    """(surname, pinyin) of _SURNAMES and their weights."""
    surnames: list[tuple[str, str]] = []
    weights: list[float] = []
    for item in _SURNAMES.split():
        surname, pinyin, weight = item.split("|")
        surnames.append((surname, pinyin))
        weights.append(float(weight))
    return surnames, weights


CITIES, _CITY_WEIGHTS = _parse_cities()
INDUSTRIES, _INDUSTRY_WEIGHTS = _parse_industries()
BRAND_PINYIN = _parse_chars(_BRAND_CHARS)
GIVEN_PINYIN = _parse_chars(_GIVEN_CHARS)
SURNAMES, _SURNAME_WEIGHTS = _parse_surnames()
_BRAND_CHAR_LIST = sorted(BRAND_PINYIN)
_GIVEN_CHAR_LIST = sorted(GIVEN_PINYIN)
_FULL_WIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)} | {0x20: 0x3000}
_FULL_WIDTH_BRACKETS = str.maketrans({"(": "（", ")": "）"})


_T = TypeVar("_T")


class _Random(random.Random):
    """random.Random whose choice, randrange and sample take one random() per draw: several
    times faster than the exact originals, and the stream stays fixed by the seed."""

    def choice(self, seq: Sequence[_T]) -> _T:  # type: ignore[override]
        """An item of ``seq``."""
        return seq[int(self.random() * len(seq))]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        """An integer in [start, stop), or in [0, start) with one argument (step is 1)."""
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def sample(  # type: ignore[override]
        self, population: Sequence[_T], k: int, *, counts: None = None
    ) -> list[_T]:
        """``k`` distinct items of ``population`` (k much smaller than the population)."""
        size = len(population)
        first = int(self.random() * size)
        if k == 1:
            return [population[first]]
        second = int(self.random() * size)
        while second == first:
            second = int(self.random() * size)
        if k == 2:
            return [population[first], population[second]]
        chosen = [first, second]
        while len(chosen) < k:
            index = int(self.random() * size)
            if index not in chosen:
                chosen.append(index)
        return [population[index] for index in chosen]


class _Weighted:
    """Weighted choice from a table of 4,096 slots, each item holding slots in proportion to its
    weight (at least one): one random() and one index per pick."""

    __slots__ = ("slots",)

    SLOTS = 4096

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        total = sum(weights)
        shares = [weight * self.SLOTS / total for weight in weights]
        counts = [max(1, int(share)) for share in shares]
        # Hand the slots left over to the largest remainders, in a fixed order.
        by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
        for i in by_remainder[: max(0, self.SLOTS - sum(counts))]:
            counts[i] += 1
        self.slots = [item for item, count in zip(items, counts, strict=True) for _ in range(count)]

    def pick(self, rng: random.Random) -> Any:
        """An item, by weight."""
        slots = self.slots
        return slots[int(rng.random() * len(slots))]


# --------------------------------------------------------------------------------------------
# Traditional characters and homophones: opencc and pypinyin when installed
# --------------------------------------------------------------------------------------------


def _traditional_converter() -> Callable[[str], str]:
    """opencc's s2t when it is installed, else the built-in character table."""
    try:
        import opencc
    except ImportError:
        table = str.maketrans(dict(zip(_S2T_PAIRS[::2], _S2T_PAIRS[1::2], strict=True)))
        return lambda text: text.translate(table)
    try:
        converter = opencc.OpenCC("s2t")
    except Exception:  # noqa: BLE001  (the configuration is named s2t.json in some builds)
        converter = opencc.OpenCC("s2t.json")
    convert: Callable[[str], str] = converter.convert
    return convert


def _homophones() -> dict[str, tuple[str, ...]]:
    """For each brand character, common characters read the same (tones ignored).

    With pypinyin: the 3,755 characters of GB 2312 level 1 (the common ones an input method
    offers first) grouped by reading; else the built-in groups."""
    try:
        from pypinyin import lazy_pinyin
    except ImportError:
        groups: dict[str, tuple[str, ...]] = {}
        for group in _HOMOPHONE_GROUPS.split():
            for char in group:
                groups[char] = tuple(other for other in group if other != char)
        return {char: groups[char] for char in _BRAND_CHAR_LIST if groups.get(char)}
    by_reading: dict[str, list[str]] = {}
    for high in range(0xB0, 0xD8):
        for low in range(0xA1, 0xFF):
            try:
                char = bytes((high, low)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            by_reading.setdefault(lazy_pinyin(char)[0], []).append(char)
    homophones: dict[str, tuple[str, ...]] = {}
    for char in _BRAND_CHAR_LIST:
        others = tuple(other for other in by_reading.get(BRAND_PINYIN[char], ()) if other != char)
        if others:
            homophones[char] = others
    return homophones


# --------------------------------------------------------------------------------------------
# Codes, phones, names
# --------------------------------------------------------------------------------------------

_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of credit codes (GB 32100), without I, O, S, V and Z."""
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUES = {char: int(char, 36) for char in _CODE_ALPHABET}


def _org_check(body: str) -> str:
    """The check character of an organisation code (GB 11714) over its first 8 characters."""
    total = 0
    for char, weight in zip(body, _ORG_WEIGHTS, strict=True):
        total += _ORG_VALUES[char] * weight
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _credit_code(rng: random.Random, division: str) -> str:
    """A valid unified social credit code of an enterprise (91) registered in ``division``."""
    if rng.random() < 0.7:  # issued since 2015: MA + 6 characters
        r = rng.random
        body = "MA" + "".join([_CODE_ALPHABET[int(r() * 31)] for _ in range(6)])
    else:  # an old organisation code of 8 digits
        body = str(rng.randrange(10_000_000, 100_000_000))
    first17 = "91" + division + body + _org_check(body)
    return first17 + credit_code_check_char(first17)


def _mistype_code(rng: random.Random, code: str) -> str:
    """The code with one character changed or two neighbours swapped: its check then fails."""
    chars = list(code)
    position = rng.randrange(2, 16)
    if rng.random() < 0.7 or chars[position] == chars[position + 1]:
        chars[position] = rng.choice(_CODE_ALPHABET.replace(chars[position], ""))
    else:
        chars[position], chars[position + 1] = chars[position + 1], chars[position]
    return "".join(chars)


class Phone(NamedTuple):
    """A landline (area code and 8 digits) or a mobile (``area`` empty, 11 digits)."""

    area: str
    number: str


def _landline(rng: random.Random, area: str, prefix: str = "") -> Phone:
    """A landline of 8 digits in ``area``, starting with ``prefix`` (else with 2 to 8)."""
    if not prefix:
        return Phone(area, str(20_000_000 + int(rng.random() * 70_000_000)))
    rest = 8 - len(prefix)
    return Phone(area, f"{prefix}{int(rng.random() * 10**rest):0{rest}d}")


def _mobile(rng: random.Random) -> Phone:
    """A mobile number: a prefix of 13x-19x and 8 digits."""
    return Phone("", rng.choice(_MOBILE_PREFIXES) + str(10**7 + int(rng.random() * 9 * 10**7)))


def _phone_text(phone: Phone) -> str:
    """The usual way of writing the phone: 0571-88881234, 13812345678."""
    return f"{phone.area}-{phone.number}" if phone.area else phone.number


def _phone_other_format(rng: random.Random, phone: Phone) -> str:
    """The phone written another way, as people and systems do."""
    n = phone.number
    if not phone.area:
        return rng.choice(
            (
                f"{n[:3]} {n[3:7]} {n[7:]}",
                f"{n[:3]}-{n[3:7]}-{n[7:]}",
                f"+86 {n[:3]} {n[3:7]} {n[7:]}",
                f"+86{n}",
                f"+86-{n}",
                f"86-{n}",
                f"(+86){n}",
            )
        )
    area = phone.area
    return rng.choice(
        (
            f"{area}{n}",
            f"({area}){n}",
            f"({area}) {n[:4]}-{n[4:]}",
            f"{area} {n[:4]} {n[4:]}",
            f"{area}-{n[:4]}-{n[4:]}",
            f"+86 {area[1:]} {n[:4]} {n[4:]}",
            f"+86-{area[1:]}-{n}",
            f"86-{area[1:]}-{n}",
            n,
            f"{area}-{n}-{rng.randrange(800, 8999)}",
            f"{area}-{n}转{rng.randrange(100, 999)}",
        )
    )


class Person(NamedTuple):
    """A contact person: the name and its pinyin (surname, given name)."""

    name: str
    surname_pinyin: str
    given_pinyin: str

    @property
    def latin(self) -> str:
        """The name in pinyin, the way it is written in Latin letters: Zhang Wei."""
        return f"{self.surname_pinyin.capitalize()} {self.given_pinyin.capitalize()}"


# --------------------------------------------------------------------------------------------
# Companies
# --------------------------------------------------------------------------------------------


class _Company:
    """One entity: a company or a branch, with everything its records are made from."""

    __slots__ = (
        "address_province",
        "brand",
        "brand_pinyin",
        "building",
        "city",
        "city_suffix",
        "contact",
        "credit",
        "district",
        "domain",
        "email",
        "entity",
        "form",
        "industry",
        "name_city",
        "number",
        "phone",
        "road",
        "suffix",
    )

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.suffix = ""  # a branch's 滨江分公司, after the head office's name
        self.email = ""
        self.domain = ""
        self.building = ""

    city: City
    name_city: City
    district: District
    brand: str
    brand_pinyin: str
    industry: Industry | None
    form: int
    credit: str
    phone: Phone
    road: str
    number: int
    contact: Person
    address_province: bool
    city_suffix: bool

    @property
    def name(self) -> str:
        """The registered name."""
        industry = self.industry.word if self.industry else ""
        return f"{self.name_city.name}{self.brand}{industry}{_FORMS[self.form][0]}{self.suffix}"


class _Generator:
    """The state of one stream of records: the random source, the taken names and domains, the
    shared switchboards and free-mail addresses of each city, and the counters."""

    def __init__(self, count: int, seed: int) -> None:
        self.rng = _Random(seed)
        self.count = count
        self.taken = bytearray(BITMAP_BITS // 8)
        self.entities = 0
        self.cities = _Weighted(CITIES, _CITY_WEIGHTS)
        self.industries = _Weighted(INDUSTRIES, _INDUSTRY_WEIGHTS)
        self.forms = _Weighted(range(len(_FORMS)), [weight for _, weight in _FORMS])
        self.surnames = _Weighted(SURNAMES, _SURNAME_WEIGHTS)
        self.free_mail_domains = _Weighted(
            [domain for domain, _ in _FREE_MAIL + _FREE_MAIL_MORE],
            [weight for _, weight in _FREE_MAIL + _FREE_MAIL_MORE],
        )
        self.tlds = _Weighted([tld for tld, _ in _TLDS], [weight for _, weight in _TLDS])
        self.records_per_entity = _Weighted(
            [n for n, _ in RECORDS_PER_ENTITY], [weight for _, weight in RECORDS_PER_ENTITY]
        )
        self.traditional = _traditional_converter()
        self._homophones: dict[str, tuple[str, ...]] | None = None
        self.shared_phones: dict[str, list[Phone]] = {}
        self.shared_emails: dict[str, list[str]] = {}
        total_weight = sum(_CITY_WEIGHTS)
        self.pool_sizes = {
            city.name: max(
                1,
                round(count * 0.7 * P_SHARED_PHONE * weight / total_weight / SHARED_PER_POOL_ENTRY),
            )
            for city, weight in zip(CITIES, _CITY_WEIGHTS, strict=True)
        }
        self.hard_negatives = 0
        """Entities made as look-alikes of another: same brand elsewhere, branches, sisters."""
        self.written_entities = 0
        self.duplicated_entities = 0
        self.true_pairs = 0

    # -- uniqueness ------------------------------------------------------------------------

    def claim(self, key: str) -> bool:
        """Take ``key`` (a name or a domain) unless it is taken; False when it was."""
        bit = zlib.crc32(key.encode()) & (BITMAP_BITS - 1)
        byte, mask = bit >> 3, 1 << (bit & 7)
        if self.taken[byte] & mask:
            return False
        self.taken[byte] |= mask
        return True

    # -- parts -----------------------------------------------------------------------------

    def person(self) -> Person:
        """A Chinese name: a surname by frequency and one or two given characters."""
        rng = self.rng
        surname, surname_pinyin = self.surnames.pick(rng)
        chars = rng.sample(_GIVEN_CHAR_LIST, 2 if rng.random() < 0.7 else 1)
        return Person(
            surname + "".join(chars), surname_pinyin, "".join([GIVEN_PINYIN[c] for c in chars])
        )

    def brand(self) -> str:
        """Two characters (75 %) or three."""
        return "".join(self.rng.sample(_BRAND_CHAR_LIST, 2 if self.rng.random() < 0.75 else 3))

    def mailbox(self, person: Person) -> str:
        """The local part of an address at a company domain: a role (40 %) or the person."""
        rng = self.rng
        if rng.random() < 0.4:
            return rng.choice(_GENERIC_MAILBOXES)
        s, g = person.surname_pinyin, person.given_pinyin
        return rng.choice((f"{s}{g}", f"{s}.{g}", f"{g[0]}{s}", f"{s}{g[0]}", f"{s}_{g}"))

    def free_mail(self, person: Person) -> str:
        """A personal free-mail address: QQ numbers, pinyin with digits, or a mobile number."""
        rng = self.rng
        domain = self.free_mail_domains.pick(rng)
        if domain in ("qq.com", "foxmail.com") and rng.random() < 0.8:
            return f"{rng.randrange(10_000, 3_999_999_999)}@{domain}"
        if rng.random() < 0.15:
            return f"{_mobile(rng).number}@{domain}"
        year = rng.randrange(1965, 2001)
        suffix = rng.choice((str(year), str(year)[2:], str(rng.randrange(1, 999)), ""))
        return f"{person.surname_pinyin}{person.given_pinyin}{suffix}@{domain}"

    def domain(self, company: _Company) -> str:
        """The company's mail domain, made on first use from the brand's pinyin (hzhuaxin.com.cn,
        huaxintech.com, ...) and not used by another company: numbered when the plain one is
        taken."""
        if company.domain:
            return company.domain
        rng = self.rng
        brand = company.brand_pinyin
        x = rng.random()
        if x < 0.35:
            stem = company.city.initials + brand
        elif x < 0.6:
            stem = brand + (company.industry.abbreviation if company.industry else "group")
        elif x < 0.75:
            stem = brand + company.city.initials
        else:
            stem = brand
        tld: str = self.tlds.pick(rng)
        domain = f"{stem}.{tld}"
        while not self.claim("@" + domain):
            domain = f"{stem}{rng.randrange(1, 1000)}.{tld}"
        company.domain = domain
        return domain

    def address_parts(self, company: _Company) -> None:
        """A road, a house number and, often, a building and room in the company's district."""
        rng = self.rng
        company.road = rng.choice(_ROADS)
        company.number = rng.randrange(1, 1200) if rng.random() < 0.8 else rng.randrange(1, 3000)
        if rng.random() < 0.6:
            name = "".join(rng.sample(_BRAND_CHAR_LIST, 2)) + rng.choice(_BUILDING_KINDS)
            block = rng.choice(("", "", "A座", "B座", "C座", "1号楼", "2幢"))
            company.building = f"{name}{block}{rng.randrange(2, 33)}{rng.randrange(1, 30):02d}室"
        company.address_province = rng.random() < 0.5
        company.city_suffix = rng.random() < 0.6

    def shared_phone(self, city: City) -> Phone:
        """A switchboard several companies of ``city`` give as theirs."""
        pool = self.shared_phones.setdefault(city.name, [])
        index = self.rng.randrange(self.pool_sizes[city.name])
        while len(pool) <= index:
            pool.append(_landline(self.rng, city.area))
        return pool[index]

    def shared_email(self, city: City) -> str:
        """A free-mail address several companies of ``city`` give as theirs (an accountant's)."""
        pool = self.shared_emails.setdefault(city.name, [])
        index = self.rng.randrange(self.pool_sizes[city.name])
        while len(pool) <= index:
            pool.append(self.free_mail(self.person()))
        return pool[index]

    def contact_points(self, company: _Company, person: Person) -> None:
        """The company's phone and e-mail, with the shared ones of its city now and then."""
        rng = self.rng
        if rng.random() < P_SHARED_PHONE:
            company.phone = self.shared_phone(company.city)
        elif rng.random() < 0.65:
            company.phone = _landline(rng, company.city.area)
        else:
            company.phone = _mobile(rng)
        x = rng.random()
        if x < P_SHARED_EMAIL:
            company.email = self.shared_email(company.city)
        elif x < 0.62:
            company.email = f"{self.mailbox(person)}@{self.domain(company)}"
        elif x < 0.88:
            company.email = self.free_mail(person)

    # -- entities --------------------------------------------------------------------------

    def new_entity(self) -> _Company:
        """A company with the next entity id and nothing else yet."""
        self.entities += 1
        return _Company(f"E{self.entities:08d}")

    def company(self) -> _Company:
        """An independent company, its name not taken in its city."""
        rng = self.rng
        company = self.new_entity()
        city: City = self.cities.pick(rng)
        company.city = company.name_city = city
        company.district = rng.choice(city.districts)
        company.form = self.forms.pick(rng)
        for _ in range(20):
            industry: Industry | None = self.industries.pick(rng)
            if company.form == _GROUP and rng.random() < 0.7:
                industry = None
            brand = self.brand()
            if self.claim(f"{city.name}|{brand}|{industry.word if industry else ''}"):
                break
        company.industry = industry
        company.brand = brand
        company.brand_pinyin = "".join([BRAND_PINYIN[char] for char in brand])
        company.credit = _credit_code(rng, company.district.code)
        company.contact = self.person()
        self.contact_points(company, company.contact)
        self.address_parts(company)
        return company

    def same_brand_elsewhere(self, root: _Company) -> _Company | None:
        """The same brand, industry and legal form in another city: another company."""
        rng = self.rng
        industry = root.industry.word if root.industry else ""
        for _ in range(5):
            city: City = self.cities.pick(rng)
            if city is not root.city and self.claim(f"{city.name}|{root.brand}|{industry}"):
                break
        else:
            return None
        company = self.new_entity()
        company.city = company.name_city = city
        company.district = rng.choice(city.districts)
        company.brand, company.brand_pinyin = root.brand, root.brand_pinyin
        company.industry, company.form = root.industry, root.form
        company.credit = _credit_code(rng, company.district.code)
        company.contact = self.person()
        self.contact_points(company, company.contact)
        self.address_parts(company)
        return company

    def branch(self, head: _Company) -> _Company:
        """A branch (分公司) of ``head``: its own credit code; the head's brand and mail domain,
        and in the head's city its landline prefix."""
        rng = self.rng
        company = self.new_entity()
        company.name_city = head.city
        company.brand, company.brand_pinyin = head.brand, head.brand_pinyin
        company.industry, company.form = head.industry, head.form
        if rng.random() < 0.8 and len(head.city.districts) > 1:
            company.city = head.city
            company.district = rng.choice([d for d in head.city.districts if d != head.district])
            company.suffix = f"{company.district.short}分公司"
        else:
            city: City = self.cities.pick(rng)
            if city is head.city:
                city = CITIES[(CITIES.index(city) + 1) % len(CITIES)]
            company.city = city
            company.district = rng.choice(city.districts)
            company.suffix = f"{city.name}分公司"
        company.credit = _credit_code(rng, company.district.code)
        company.contact = self.person()
        company.domain = self.domain(head)
        if company.city is head.city and head.phone.area:
            company.phone = _landline(rng, head.phone.area, head.phone.number[:4])
        else:
            company.phone = _landline(rng, company.city.area)
        company.email = f"{self.mailbox(company.contact)}@{company.domain}"
        self.address_parts(company)
        return company

    def sister(self, root: _Company) -> _Company | None:
        """Another company of the same group: the same brand with another industry word (or the
        group itself), at the same address with the same boss as contact."""
        rng = self.rng
        for _ in range(5):
            if root.industry is not None and rng.random() < 0.2:
                industry, form = None, _GROUP
            else:
                industry, form = self.industries.pick(rng), self.forms.pick(rng)
                if form == _GROUP:
                    form = 0
            word = industry.word if industry else ""
            if industry != root.industry and self.claim(f"{root.city.name}|{root.brand}|{word}"):
                break
        else:
            return None
        company = self.new_entity()
        company.city = company.name_city = root.city
        company.district = root.district
        company.brand, company.brand_pinyin = root.brand, root.brand_pinyin
        company.industry, company.form = industry, form
        company.credit = _credit_code(rng, company.district.code)
        company.contact = root.contact
        if rng.random() < 0.4:
            company.domain = self.domain(root)
        self.contact_points(company, company.contact)
        if rng.random() < 0.3:
            company.phone = root.phone
        company.road, company.number, company.building = root.road, root.number, root.building
        company.address_province, company.city_suffix = root.address_province, root.city_suffix
        return company

    def family(self) -> list[_Company]:
        """An independent company with its look-alikes: the same brand in other cities, its
        branches and its sister companies (each a distinct entity)."""
        rng = self.rng
        root = self.company()
        family = [root]
        if rng.random() < P_OTHER_CITY:
            for _ in range(1 if rng.random() < 0.8 else 2):
                other = self.same_brand_elsewhere(root)
                if other is not None:
                    family.append(other)
        if rng.random() < P_BRANCHES:
            family.extend(self.branch(root) for _ in range(rng.choice((1, 1, 1, 2, 2, 3))))
        if rng.random() < P_SISTERS:
            for _ in range(1 if rng.random() < 0.7 else 2):
                sister = self.sister(root)
                if sister is not None:
                    family.append(sister)
        self.hard_negatives += len(family) - 1
        return family

    # -- records ---------------------------------------------------------------------------

    def address(
        self, company: _Company, province: bool, city_suffix: bool, district: bool, building: bool
    ) -> str:
        """The company's address with or without the province, 市, the district and the
        building: 浙江省杭州市滨江区江南大道1234号华业大厦A座1203室."""
        city = company.city
        parts = []
        if province and not city.municipality:
            parts.append(city.province)
        parts.append(city.name + "市" if city_suffix or city.municipality else city.name)
        if district:
            parts.append(company.district.name)
        parts.append(f"{company.road}{company.number}号")
        if building:
            parts.append(company.building)
        return "".join(parts)

    def first_record(self, company: _Company) -> Row:
        """The entity as registered, with the fields real records leave empty."""
        r = self.rng.random
        return (
            company.name,
            company.credit if r() >= 0.25 else "",
            _phone_text(company.phone) if r() >= 0.05 else "",
            company.email,
            self.address(company, company.address_province, company.city_suffix, True, True)
            if r() >= 0.10
            else "",
            (company.city.name + "市" if company.city_suffix else company.city.name)
            if r() >= 0.05
            else "",
            company.contact.name if r() >= 0.15 else "",
        )

    def homophone(self, brand: str) -> str:
        """The brand with one character replaced by one read the same."""
        if self._homophones is None:
            self._homophones = _homophones()
        positions = [i for i, char in enumerate(brand) if char in self._homophones]
        if not positions:
            return brand
        i = self.rng.choice(positions)
        return brand[:i] + self.rng.choice(self._homophones[brand[i]]) + brand[i + 1 :]

    def variant_name(self, company: _Company) -> str:
        """The company's name as another record writes it."""
        rng = self.rng
        r = rng.random
        industry = company.industry
        if not company.suffix and r() < 0.01:
            words = industry.english if industry else "Group"
            return f"{company.city.pinyin} {company.brand_pinyin.capitalize()} {words} Co., Ltd."
        brand = self.homophone(company.brand) if r() < 0.05 else company.brand
        form = _FORMS[company.form][0]
        x = r()
        if x < 0.20:
            form = rng.choice(_FORM_VARIANTS[form])
        elif x < 0.25 and not company.suffix:
            form = ""
        elif x < 0.265 and not company.suffix:
            form = rng.choice((" Co., Ltd.", "Co.,Ltd.", " CO., LTD"))
        core = brand + (industry.word if industry else "") + form
        region = company.name_city.name
        x = r()
        if x < 0.10:
            name = f"{brand}{industry.word if industry else ''}({region}){form}"
            if r() < 0.5:
                name = name.translate(_FULL_WIDTH_BRACKETS)
        elif x < 0.17:
            name = core
        elif x < 0.22 and not company.name_city.municipality:
            city = company.name_city
            name = (
                f"{city.province_short}{region}{core}"
                if r() < 0.6
                else f"{city.province}{region}市{core}"
            )
        else:
            name = region + core
        name += company.suffix
        if r() < 0.03:
            if name.startswith(region) and r() < 0.6:
                name = f"{region} {name[len(region) :]}"
            else:
                name = rng.choice((name + " ", " " + name))
        return name

    def variant_credit(self, company: _Company) -> str:
        """The credit code of another record: often missing, sometimes mistyped."""
        rng = self.rng
        if rng.random() < 0.30:
            return ""
        x = rng.random()
        if x < 0.04:
            return _mistype_code(rng, company.credit)
        return company.credit.lower() if x < 0.06 else company.credit

    def variant_phone(self, company: _Company) -> str:
        """The phone of another record: missing, another line, or written another way."""
        rng = self.rng
        r = rng.random
        if r() < 0.15:
            return ""
        x = r()
        if x < 0.15:
            phone = company.phone
            other = (
                _landline(rng, phone.area, phone.number[:4])
                if phone.area and r() < 0.5
                else _mobile(rng)
            )
            return _phone_text(other) if r() < 0.6 else _phone_other_format(rng, other)
        if x < 0.50:
            return _phone_other_format(rng, company.phone)
        return _phone_text(company.phone)

    def variant_email(self, company: _Company) -> str:
        """The e-mail of another record: missing, another mailbox, or upper case."""
        r = self.rng.random
        if r() < 0.25:
            return ""
        email = company.email
        if r() < 0.20:
            email = (
                f"{self.mailbox(company.contact)}@{self.domain(company)}"
                if r() < 0.5
                else self.free_mail(company.contact)
            )
        return email.upper() if r() < 0.02 else email

    def variant_address(self, company: _Company) -> str:
        """The address of another record, written differently, the number now and then
        mistyped."""
        rng = self.rng
        r = rng.random
        if r() < 0.15:
            return ""
        address = self.address(
            company, r() < 0.5, r() < 0.6, r() < 0.9, bool(company.building) and r() < 0.6
        )
        if r() < 0.03:
            typo = max(1, company.number + rng.choice((-2, -1, 1, 2, 10)))
            address = address.replace(f"{company.number}号", f"{typo}号", 1)
        return address

    def variant_record(self, company: _Company) -> Row:
        """Another record of the entity, each field varied with its own probability."""
        rng = self.rng
        r = rng.random
        name = self.variant_name(company)
        credit = self.variant_credit(company)
        phone = self.variant_phone(company)
        email = self.variant_email(company)
        address = self.variant_address(company)
        city = ""
        if r() >= 0.10:
            city = company.city.name + "市" if r() < 0.5 else company.city.name
        contact = ""
        if r() >= 0.20:
            person = company.contact if r() >= 0.20 else self.person()
            contact = person.latin if r() < 0.01 else person.name
        if r() < 0.04:  # entered in traditional characters
            convert = self.traditional
            name, address, city, contact = (
                convert(name),
                convert(address),
                convert(city),
                convert(contact),
            )
        if r() < 0.05:  # full-width digits, letters and brackets in some fields
            name, credit, phone, address = (
                value.translate(_FULL_WIDTH) if r() < 0.6 else value
                for value in (name, credit, phone, address)
            )
        return (name, credit, phone, email, address, city, contact)

    # -- the stream ------------------------------------------------------------------------

    def records(self) -> Iterator[tuple[Row, str]]:
        """``count`` records with their entity, shuffled within a window."""
        rng = self.rng
        buffer: list[tuple[Row, str]] = []
        made = 0
        while made < self.count:
            for company in self.family():
                n = min(self.records_per_entity.pick(rng), self.count - made)
                if n <= 0:
                    break
                buffer.append((self.first_record(company), company.entity))
                buffer.extend((self.variant_record(company), company.entity) for _ in range(n - 1))
                made += n
                self.written_entities += 1
                self.duplicated_entities += n > 1
                self.true_pairs += n * (n - 1) // 2
            while len(buffer) > WINDOW:
                i = rng.randrange(len(buffer))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer


def _rows(generator: _Generator) -> Iterator[tuple[str, Row, str]]:
    """(id, record, entity) for every record of ``generator``."""
    for number, (row, entity) in enumerate(generator.records(), 1):
        yield f"A{number:08d}", row, entity


def generate(count: int, seed: int) -> Iterator[tuple[dict[str, str], str]]:
    """``count`` account records, each as a dict of the account columns (empty strings for
    missing values) with the id of its true entity; deterministic for ``seed``."""
    for record_id, row, entity in _rows(_Generator(count, seed)):
        yield dict(zip(COLUMNS, (record_id, *row), strict=True)), entity


def write(count: int, seed: int, accounts_csv: Path, truth_csv: Path) -> dict[str, Any]:
    """Write ``count`` records to ``accounts_csv`` and their truth (``id,entity_id``) to
    ``truth_csv``; return a summary (entities, true pairs, seconds)."""
    started = time.perf_counter()
    generator = _Generator(count, seed)
    for path in (accounts_csv, truth_csv):
        path.parent.mkdir(parents=True, exist_ok=True)
    with (
        accounts_csv.open("w", newline="", encoding="utf-8") as accounts_file,
        truth_csv.open("w", newline="", encoding="utf-8") as truth_file,
    ):
        accounts = csv.writer(accounts_file)
        truth = csv.writer(truth_file)
        accounts.writerow(COLUMNS)
        truth.writerow(("id", "entity_id"))
        write_account, write_truth = accounts.writerow, truth.writerow
        for number, (row, entity) in enumerate(generator.records(), 1):
            record_id = f"A{number:08d}"
            write_account((record_id, *row))
            write_truth((record_id, entity))
    seconds = time.perf_counter() - started
    return {
        "rows": count,
        "entities": generator.written_entities,
        "entities_with_duplicates": generator.duplicated_entities,
        "hard_negatives": generator.hard_negatives,
        "true_pairs": generator.true_pairs,
        "seconds": round(seconds, 2),
        "rows_per_second": round(count / seconds) if seconds else None,
    }


def main(argv: list[str] | None = None) -> None:
    """Write a labelled set of company records and its truth."""
    parser = argparse.ArgumentParser(
        description="Generate Chinese company records with known duplicates and hard negatives."
    )
    parser.add_argument("--rows", type=int, required=True, help="how many records")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the accounts CSV")
    parser.add_argument("--truth", type=Path, required=True, help="the truth CSV: id,entity_id")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    summary = write(args.rows, args.seed, args.output, args.truth)
    print(", ".join(f"{key} {value}" for key, value in summary.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
