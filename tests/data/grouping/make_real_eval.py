#!/usr/bin/env python3
"""A grouping evaluation set built at run time from real complaint orders (issue #23).

Reads `cocc-dev.tsv` (`text<TAB>label`, real orders written by a mobile operator's call-center
agents; see `../shared/data/README.md`) and writes canonical complaints with `expected_case` to
standard output, for `mend eval grouping`. The corpus carries no licence: this script reads it
where it lies and writes nothing of it into the repository — write the output outside it (e.g.
under `target/`).

The orders are split in two halves by a hash of their text: `--part dev` to tune on, `--part
test` to report on; `dev-a` and `dev-b` split dev again, to train a label model on one quarter
and tune on the other. Each half becomes customers with one to three problems at once (sometimes
two under the same label), each problem started by one real order on the hotline, then repeated
on other channels:

* a retelling: 30-70 % of the order's clauses, in order, with the channel's framing
  ([公众号留言], 用户说:, 营业厅评价:, 来电反映) or without;
* a short follow-up in the customer's own words for the order's label ("宽带还是不行",
  "上次说的扣费还没退"), sometimes naming a detail of the order.

Identity keys are split across channels as in life: the hotline knows the phone, WeChat the
openid, stores the member id, the bot its user id; the first record on each channel also carries
the phone, so every key can be joined. Deterministic for a seed:

    python3 tests/data/grouping/make_real_eval.py --part dev > target/real-dev.jsonl
    python3 tests/data/grouping/make_real_eval.py --part dev --labels > target/real-dev.tsv
    cargo run --release -q -- eval grouping target/real-dev.jsonl
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import random
import re
import sys

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2026, 8, 3, 9, 0, tzinfo=TZ)

FRAMES = {
    "wechat": ["[公众号留言]", "微信留言:", ""],
    "bot": ["用户说:", "在线客服转人工:", ""],
    "store": ["营业厅评价:", "门店意见簿:", ""],
    "hotline": ["来电反映", "客户再次来电:", ""],
}

# Short follow-ups per label, as customers write them.
SHORT = {
    "费用问题": ["上次说的扣费还没退", "话费又多扣了", "那笔费用到底什么时候退", "账单还是不对", "多收的钱还没给我退回来"],
    "不知情定制问题": ["那个业务我根本没订过,还在扣钱", "说好的退订了怎么还扣", "没经过我同意开的业务还没处理", "莫名其妙的包月还在"],
    "营销活动问题": ["活动说好的优惠没到账", "办活动时承诺的没兑现", "送的流量还是没有", "合约活动的返费还没返"],
    "网络问题": ["宽带还是不行", "网还是断的", "信号还是很差", "网速还是很慢", "修了还是上不了网"],
    "业务使用问题": ["还是用不了", "短信还是收不到", "电话还是打不出去", "流量还是用不了", "账号还是登不上"],
    "服务问题": ["到现在也没人联系我", "工作人员态度太差了", "上门的师傅还没来", "营业厅还是不给办"],
    "业务办理问题": ["销户还是没办好", "过户的事还没弄完", "实名的问题还没解决", "携号转网还是办不了"],
    "信息安全问题": ["还是一直收到骚扰短信", "骚扰电话还在打", "我的信息是不是泄露了", "身份证下的号码还没处理"],
}

CLAUSE = re.compile(r"[^,,。;;!!??]+[,,。;;!!??]?")
TEMPLATE_FIELD = re.compile(r"(受理号码|联系电话|账号|受理记录|号码归属地|客户身份证号)[::]")


def read_orders(path):
    orders = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "\t" not in line:
                continue
            text, label = line.rsplit("\t", 1)
            text = text.strip().strip('"').strip()
            if text:
                orders.append((text, label.strip()))
    return orders


def parts_of(text):
    """The halves an order is in: `dev` or `test`, and a quarter of dev (`dev-a`, `dev-b`) to
    train a label model on one and tune grouping on the other without touching `test`."""
    byte = hashlib.sha1(text.encode("utf-8")).digest()[0]
    if byte % 2:
        return {"test"}
    return {"dev", "dev-a" if byte % 4 == 0 else "dev-b"}


def clauses(text):
    found = [c.strip() for c in CLAUSE.findall(text) if c.strip()]
    # Template fields (受理号码:******) say how the order was written, not what it is about.
    return [c for c in found if not TEMPLATE_FIELD.search(c) and c.strip("*,,。;;") != ""] or found


def retell(rng, text):
    parts = clauses(text)
    keep = max(1, round(len(parts) * rng.uniform(0.3, 0.7)))
    if rng.random() < 0.5 and len(parts) > keep:
        start = rng.randrange(len(parts) - keep + 1)
        chosen = parts[start:start + keep]
    else:
        chosen = [parts[i] for i in sorted(rng.sample(range(len(parts)), keep))]
    return "".join(chosen)


def detail(rng, text):
    """A few characters of the order a customer might repeat (a place, a product)."""
    words = re.findall(r"[\u4e00-\u9fff]{4,8}", text)
    return rng.choice(words) if words else ""


def short_words(rng, text, label):
    said = rng.choice(SHORT.get(label, ["问题还是没解决"]))
    if rng.random() < 0.4:
        d = detail(rng, text)
        if d:
            said = f"{d},{said}"
    return said


class Customer:
    def __init__(self, rng, n):
        self.phone = f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"
        self.openid = f"o{rng.getrandbits(64):016x}"
        self.member = f"M{n:07d}"
        self.bot_user = f"bu-{rng.getrandbits(32):08x}"
        self.seen = set()

    def keys(self, channel):
        first = channel not in self.seen
        self.seen.add(channel)
        if channel == "hotline":
            return {"phone": self.phone}
        keys = {
            "wechat": {"wechat_openid": self.openid},
            "bot": {"bot_user_id": self.bot_user},
            "store": {"member_id": self.member},
        }[channel]
        if first:
            keys["phone"] = self.phone
        return keys


def build(orders, rng):
    rng.shuffle(orders)
    by_label = {}
    for text, label in orders:
        by_label.setdefault(label, []).append(text)
    pool = list(orders)
    records = []
    n_customer = 0
    while pool:
        n_customer += 1
        customer = Customer(rng, n_customer)
        problems = rng.choices([1, 2, 3], weights=[5, 3, 2])[0]
        chosen = [pool.pop()]
        for _ in range(problems - 1):
            if not pool:
                break
            same_label = [i for i, (_, l) in enumerate(pool) if l == chosen[0][1]]
            if same_label and rng.random() < 0.3:
                chosen.append(pool.pop(rng.choice(same_label)))
            else:
                chosen.append(pool.pop())
        start = START + dt.timedelta(days=rng.randrange(60), minutes=rng.randrange(600))
        for p, (text, label) in enumerate(chosen):
            case = f"r{n_customer:04d}-{p}"
            at = start + dt.timedelta(hours=rng.uniform(0, 48))
            records.append((at, customer, "hotline", text, case, label))
            for _ in range(rng.choices([0, 1, 2, 3], weights=[2, 4, 3, 1])[0]):
                at += dt.timedelta(hours=rng.uniform(2, 72))
                channel = rng.choice(["wechat", "bot", "store", "hotline"])
                if rng.random() < 0.6:
                    said = retell(rng, text)
                else:
                    said = short_words(rng, text, label)
                frame = rng.choice(FRAMES[channel])
                records.append((at, customer, channel, f"{frame}{said}", case, label))
    records.sort(key=lambda r: r[0])
    out = []
    for i, (at, customer, channel, text, case, label) in enumerate(records):
        out.append({
            "channel": channel,
            "source_id": f"{channel}-real-{i:05d}",
            "received_at": at.isoformat(timespec="seconds"),
            "customer": customer.keys(channel),
            "text": text,
            "category": None,
            "satisfaction": None,
            "formal_complaint": False,
            "expected_case": case,
            "expected_label": label,
        })
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_tsv = os.path.normpath(os.path.join(here, "../../../../shared/data/cocc-dev.tsv"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tsv", default=default_tsv)
    parser.add_argument("--part", choices=["dev", "dev-a", "dev-b", "test", "all"], default="dev")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--labels", action="store_true",
                        help="write the part's orders as text<TAB>label, for `mend train categories`")
    parser.add_argument("--shuffled", action="store_true",
                        help="deliver the complaints in random order (times unchanged)")
    args = parser.parse_args()
    if not os.path.exists(args.tsv):
        sys.exit(f"{args.tsv} is not there: the real orders live in ../shared/data/ (see its README)")
    orders = [o for o in read_orders(args.tsv) if args.part == "all" or args.part in parts_of(o[0])]
    if args.labels:
        for text, label in orders:
            print(f"{text}\t{label}")
        return
    records = build(orders, random.Random(args.seed))
    if args.shuffled:
        random.Random(args.seed + 1).shuffle(records)
    for record in records:
        print(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    main()
