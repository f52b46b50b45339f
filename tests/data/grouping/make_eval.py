#!/usr/bin/env python3
"""A labeled evaluation set for mend's same-problem grouping, written independently of mend.

Each line is a canonical complaint (DESIGN.md) plus `expected_case`: the ground-truth case —
one customer's one problem episode. The set exercises what grouping must get right:

* one problem told many ways, on all four channels, over a few days (most texts are written the
  way customers and agents write, not in taxonomy keywords);
* customers with two or more distinct problems in the same week;
* the same customer back with the same kind of problem weeks later (a new episode);
* identity keys split across channels — the hotline knows the phone, WeChat the openid, stores
  the member id, the bot its own user id — joined only now and then by a record that carries two
  of them (a WeChat message that gives the phone, a bot session inside WeChat), sometimes only
  after the customer complained under both identities. Every key is joined to the phone by at
  least one record somewhere: a case that no record could ever tie together is not one that any
  grouping can find;
* boilerplate that channels add (来电反映…, [公众号留言]…, 营业厅评价…) and uninformative records
  (a hotline call rated 1 with no notes).

Deterministic (seeded). Regenerate with:

    python3 tests/data/grouping/make_eval.py > tests/data/grouping/eval.jsonl
"""
import datetime as dt
import json
import random

rng = random.Random(20261124)
TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 8, 1, 8, 0, tzinfo=TZ)

# Problem stories: (category, [phrasings]). A story is one problem; an episode picks a story and
# tells it several times. {n} a small number, {fee} an amount, {day} a weekday.
STORIES = [
    ("broadband_outage", [
        "宽带又断了,已经报修{n}次了", "家里光猫一直闪红灯,上不了网", "晚上一到八点就掉线,孩子网课都上不了",
        "网络中断一整天了,在家办公完全没法弄", "路由器重启了好几次还是连不上", "宽带坏了{n}天,到现在没人来修",
        "家里的网彻底没了,WiFi连上也打不开网页", "光猫LOS灯亮红色,打了好几次电话", "又断网了!每次修好没两天又坏",
        "从{day}开始就没有网,什么时候能恢复", "网线插着显示未识别网络,一直上不去", "在家上不了网,急着用,请尽快处理",
    ]),
    ("slow_network", [
        "办的{n}00兆宽带测速只有几兆", "晚上看视频一直转圈卡顿", "网速太慢了,打游戏延迟好几百",
        "千兆套餐实际速度连百兆都不到", "下载个文件要好几个小时,网速不达标", "一到晚上网页都加载不出来,慢得要命",
        "测了好几次速度都不够,明显是限速了", "视频会议总是卡住,网太慢影响工作",
    ]),
    ("mobile_signal", [
        "小区里手机没信号,电话都打不出去", "家里只有一格信号,经常接不到电话", "通话老是中断,说两句就断",
        "地下车库完全没信号", "5G信号时有时无,还不如4G", "在公司打电话对方听不清,信号太差",
        "这边基站是不是坏了,整栋楼都没信号", "手机显示无服务,重启也没用",
    ]),
    ("billing_dispute", [
        "这个月话费多扣了{fee}元,账单看不懂", "流量明明没超,却收了{fee}元超套费", "账单里有一笔{fee}元不知道是什么钱",
        "每个月都莫名其妙多扣钱", "资费跟办理的时候说的不一样,多收了", "我没打国际长途,账单上却有长途费",
        "套餐外费用{fee}块,要求说明并退还", "话费突然涨了一倍,肯定扣错了",
    ]),
    ("unwanted_subscription", [
        "没订过的增值业务每月扣{fee}元", "手机里被开通了彩铃,我从来没同意", "莫名其妙开通了会员自动续费",
        "未经我同意给我订了流量包", "短信说我订购了视频会员,我根本没订", "查了一下有三个包月业务都不是我开的",
        "要求退订所有我没办过的业务并退款", "私自给我开了增值服务,这是违规的",
    ]),
    ("package_change", [
        "想降套餐,营业厅说合约期内改不了", "改套餐改了{n}次都没成功", "携号转网被要求交违约金{fee}元",
        "套餐变更后费用反而更高了", "想取消副卡一直办不了", "线上申请换套餐一直审核中",
        "合约到期了还不让我换低档套餐",
    ]),
    ("installation_delay", [
        "预约装机等了{n}天了师傅还没上门", "报修工单提交{n}天没人联系", "说好今天上门结果没人来也不打电话",
        "维修师傅来了一趟说要换设备又没下文", "新装宽带一直拖,催了好几次", "上门时间一改再改,请假在家白等",
        "工单显示已处理,其实根本没人来",
    ]),
    ("refund_delay", [
        "退款{fee}元说七个工作日到账,一个月了还没到", "销户的押金一直没退", "答应的补偿到现在还没返还",
        "多收的钱说会退,到现在都没退", "退费申请提交{n}次了没下文", "说好退到原账户,钱到现在也没看到",
    ]),
    ("store_attitude", [
        "营业厅工作人员态度很差,爱答不理", "排队两个小时,只开了一个窗口", "店员一直推销我不需要的东西",
        "营业员对老人很不耐烦,问两句就甩脸", "去营业厅办事被踢皮球,让我打客服", "工作人员玩手机不理人",
    ]),
    ("app_login", [
        "App一直登不上,验证码收不到", "小程序闪退,查不了账单", "公众号绑定手机号一直失败",
        "改了密码以后就登录不了", "网上营业厅页面一直报错", "App提示账号异常被锁定",
    ]),
]
# A few stories told mostly without the taxonomy's words, and stories that drift into a
# neighbouring category's words: what real texts do.
UNINFORMATIVE = ["{v}", "还是那个问题,{v}", "上次反映的事情到现在没解决,{v}", "第{n}次找你们了,{v}"]
VENTS = ["太气人了", "到底有没有人管", "再不解决我就投诉到工信部", "请尽快给我回复", "你们什么效率", "真的很失望"]

CHANNEL_WRAPPERS = {
    "hotline": ["客户来电反映:{t}", "用户致电称{t}", "来电:{t},要求尽快处理", "{t}(客户情绪激动)", "客户称{t}"],
    "wechat": ["{t}", "{t}!!", "[公众号留言] {t}", "{t},到底管不管", "你好,{t}"],
    "bot": ["{t}", "{t}\n转人工", "我要投诉,{t}", "{t}\n没用,转人工"],
    "store": ["到厅反映{t}", "营业厅评价:{t}", "{t}", "客户在柜台称{t}"],
}
WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]


def fill(template):
    return (template.replace("{n}", str(rng.randint(2, 5)))
            .replace("{fee}", str(rng.choice([18, 30, 45, 68, 99, 120, 158])))
            .replace("{day}", rng.choice(WEEKDAYS))
            .replace("{v}", rng.choice(VENTS)))


class Customer:
    def __init__(self, i):
        self.i = i
        self.phone = f"13{rng.randint(0, 999_999_999):09d}"
        self.openid = f"oEval{rng.getrandbits(64):020d}"[:28]
        self.member = f"M{rng.randint(10_000_000, 99_999_999)}"
        self.bot_user = f"bu-{rng.getrandbits(32):08x}"
        # How often this customer's non-phone records also carry the phone (a bound WeChat,
        # a member card with a phone): some customers are linked at once, some late, some rarely.
        self.bridge = rng.choice([0.9, 0.6, 0.35, 0.2])
        self.name = rng.choice("张王李刘陈杨黄赵吴周徐孙马朱胡郭") + rng.choice(["先生", "女士"])

    def keys(self, channel):
        carry_phone = rng.random() < self.bridge
        if channel == "hotline":
            return {"phone": self.phone}
        if channel == "wechat":
            return {"wechat_openid": self.openid, "phone": self.phone if carry_phone else None}
        if channel == "bot":
            keys = {"bot_user_id": self.bot_user}
            if rng.random() < 0.7:
                keys["wechat_openid"] = self.openid
            if carry_phone:
                keys["phone"] = self.phone
            return keys
        keys = {"member_id": self.member}
        if carry_phone:
            keys["phone"] = self.phone
        return keys


def episode_complaints(customer, case_id, story, start):
    """One problem told 1-8 times over a few days, on several channels."""
    category, phrasings = story
    count = rng.choice([1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 8])
    span_hours = rng.uniform(2, 120)
    times = sorted(start + dt.timedelta(hours=rng.uniform(0, span_hours)) for _ in range(count))
    out = []
    for k, at in enumerate(times):
        channel = rng.choices(["hotline", "wechat", "bot", "store"], weights=[4, 4, 2, 1])[0]
        if k > 0 and rng.random() < 0.12:
            text = fill(rng.choice(UNINFORMATIVE))
        else:
            text = fill(rng.choice(phrasings))
            if rng.random() < 0.3:
                text += "," + fill(rng.choice(VENTS))
        text = rng.choice(CHANNEL_WRAPPERS[channel]).replace("{t}", text)
        satisfaction = rng.choice([1, 1, 2, 2, 3])
        if channel == "hotline" and rng.random() < 0.06:
            text = f"热线来电,满意度评价 {satisfaction} 分(无坐席备注)"
        customer_json = customer.keys(channel)
        customer_json["name"] = customer.name if rng.random() < 0.5 else None
        out.append({
            "channel": channel,
            "received_at": at.isoformat(timespec="seconds"),
            "customer": customer_json,
            "text": text,
            "category": category if channel == "hotline" and rng.random() < 0.15 else None,
            "satisfaction": satisfaction,
            "formal_complaint": rng.random() < 0.05,
            "expected_case": case_id,
        })
    return out


def connect_identities(complaints):
    """Makes sure each key appears with its customer's phone at least once."""
    by_key = {}
    for c in complaints:
        customer = c["expected_case"].split("-")[0]
        for kind in ("wechat_openid", "member_id", "bot_user_id"):
            value = c["customer"].get(kind)
            if value:
                by_key.setdefault((customer, kind, value), []).append(c)
    phones = {c["expected_case"].split("-")[0]: c["customer"]["phone"] for c in complaints if c["customer"].get("phone")}
    for (customer, _, _), records in sorted(by_key.items()):
        if customer in phones and not any(r["customer"].get("phone") for r in records):
            rng.choice(records)["customer"]["phone"] = phones[customer]


def main():
    customers = [Customer(i) for i in range(420)]
    complaints = []
    for customer in customers:
        day = rng.uniform(0, 20)
        episodes = rng.choice([1, 1, 2, 2, 3])
        for e in range(episodes):
            story = rng.choice(STORIES)
            start = START + dt.timedelta(days=day)
            complaints += episode_complaints(customer, f"c{customer.i:03d}-e{e}", story, start)
            # A second, different problem in the same week for some; later episodes otherwise.
            if rng.random() < 0.35:
                other = rng.choice([s for s in STORIES if s[0] != story[0]])
                complaints += episode_complaints(
                    customer, f"c{customer.i:03d}-e{e}b", other, start + dt.timedelta(hours=rng.uniform(0, 72))
                )
            day += rng.uniform(12, 40)
    connect_identities(complaints)
    complaints.sort(key=lambda c: c["received_at"])
    for n, c in enumerate(complaints):
        c["source_id"] = f"{c['channel']}-eval-{n:05d}"
        print(json.dumps(c, ensure_ascii=False))


main()
