//! Synthetic complaints for benchmarks and the demo's samples: realistic Chinese texts, repeat
//! complainers, identity keys spread across channels, in roughly chronological order.
//!
//! Complaints come in episodes, as DESIGN.md describes: about half continue the story of a
//! customer who complained in the last day or two (often on another channel), the rest start a
//! new episode. Who starts one depends on the [`Activity`].

use std::collections::VecDeque;
use std::io::{self, Write};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::json;

pub struct SynthConfig {
    pub complaints: u64,
    pub customers: u64,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub days: i64,
    pub activity: Activity,
    /// Real complaint orders to tell the problems with (about 700 bytes each, see
    /// [`read_orders`]); empty, the short synthetic texts below.
    pub orders: Vec<String>,
}

impl SynthConfig {
    /// The benchmarks' stream: seed 7, 90 days from 2026-09-01, every customer active throughout.
    pub fn new(complaints: u64, customers: u64) -> Self {
        SynthConfig {
            complaints,
            customers,
            seed: 7,
            start: Utc.with_ymd_and_hms(2026, 9, 1, 0, 0, 0).single().expect("valid date"),
            days: 90,
            activity: Activity::Uniform,
            orders: Vec::new(),
        }
    }
}

/// Which customers start new episodes as the stream goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Activity {
    /// Any customer, at any time: every customer stays active from the first complaint to the
    /// last, so the customers in play grow with the history (the worst case for a cache).
    Uniform,
    /// Customers arrive through the stream at a steady pace and come back for a while (within
    /// the last tenth of the arrivals); the customers in play stay as many while the history
    /// grows, as on a desk where problems come and go.
    Arriving,
}

impl Activity {
    /// The number in a customer's phone, openid and member id.
    fn key_number(self, customer: u64) -> u64 {
        match self {
            Activity::Uniform => customer,
            Activity::Arriving => customer * KEY_SPREAD % 1_000_000_000,
        }
    }
}

/// The customers a returning customer is drawn from, as a share of all customers
/// ([`Activity::Arriving`]).
const RETURN_WINDOW_DIVISOR: u64 = 10;

/// An odd multiplier not divisible by 5: `n * KEY_SPREAD mod 10^9` is a bijection on 9-digit
/// numbers, so customers who arrive one after another get phone numbers and member ids
/// scattered over the key space, as real ones are.
const KEY_SPREAD: u64 = 2_654_435_761;

/// (category id, texts). `{n}` becomes a small number, `{fee}` an amount in yuan.
const TEXTS: &[(&str, &[&str])] = &[
    (
        "broadband_outage",
        &[
            "宽带又断了,已经报修{n}次了,到现在还是上不了网",
            "家里光猫一直亮红灯,断网{n}天了没人管",
            "晚上八点以后宽带就掉线,孩子上网课都没法上",
            "宽带故障报了{n}次,每次说修好了第二天又断了",
            "网络中断一整天,在家办公完全没法工作",
        ],
    ),
    (
        "slow_network",
        &[
            "办的500兆宽带,测速只有{n}0兆,网速太慢了",
            "晚上看视频一直卡顿,加载不出来",
            "网速慢得要命,打游戏卡得没法玩",
            "升级了千兆套餐网速还是很慢,带宽不够",
        ],
    ),
    (
        "mobile_signal",
        &[
            "小区里手机信号差,电话打不出去",
            "家里只有一格信号,经常接不到电话",
            "5G信号时有时无,通话中断了{n}次",
            "公司楼里没信号,基站什么时候能修",
        ],
    ),
    (
        "billing_dispute",
        &[
            "这个月话费莫名其妙多扣了{fee}元,账单看不懂",
            "流量明明没用完却收了超套费用{fee}元,乱收费",
            "账单里有一笔{fee}元的费用不对,要求退还",
            "每个月都多扣钱,资费和办理时说的不一样",
        ],
    ),
    (
        "unwanted_subscription",
        &[
            "没订过的增值业务每月扣{fee}元,私自开通",
            "手机里被开通了彩铃包月,我从来没同意过",
            "莫名开通了会员自动续费,要求退订并退款",
            "未经同意给我订购了流量包,太过分了",
        ],
    ),
    (
        "package_change",
        &[
            "想换套餐降档,营业厅说合约期内办理不了",
            "改套餐改了{n}次都没成功,系统一直报错",
            "携号转网要交违约金{fee}元,太不合理了",
            "套餐变更后费用反而更高了,当初说好的不是这样",
        ],
    ),
    (
        "installation_delay",
        &[
            "预约装机等了{n}天了,师傅一直不上门",
            "报修工单提交{n}天了还没人联系我",
            "维修师傅说好今天上门,结果没人来也不打电话",
            "修了几次还没修好,迟迟没有结果,没人管",
        ],
    ),
    (
        "refund_delay",
        &[
            "退款{fee}元说7个工作日到账,现在一个月了还没到账",
            "销户的押金一直没退,打了{n}次电话",
            "答应的补偿{fee}元到现在还没返还",
            "多收的钱说会退回,到现在都没退",
        ],
    ),
    (
        "store_attitude",
        &[
            "营业厅工作人员态度很差,爱答不理",
            "在营业厅排队两个小时,柜台只开了一个窗口",
            "店员一直推销我不需要的业务,很不耐烦",
            "营业员对老人很冷漠,问两句就甩脸",
        ],
    ),
    (
        "app_login",
        &[
            "App一直登不上,验证码收不到",
            "网上营业厅小程序闪退,查不了账单",
            "公众号绑定手机号一直失败,提示账号异常",
            "App改密码以后就登录不了了",
        ],
    ),
];

const SURNAMES: &[&str] =
    &["张", "王", "李", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭"];
const PREFIXES: [&[&str]; 4] = [
    &["来电反映:", "客户来电称", "用户致电:", ""],
    &["", "[公众号留言] ", "投诉:"],
    &["", "转人工:", "我要投诉,"],
    &["", "营业厅评价:", "到厅客户反映"],
];
const CHANNELS: [&str; 4] = ["hotline", "wechat", "bot", "store"];

/// The texts of a `text<TAB>label` file of real orders (`../shared/data/cocc-dev.tsv`), read
/// where it lies: benchmarks use them, nothing copies them.
/// Lines `mend train categories` would refuse are left out here too.
pub fn read_orders(path: &std::path::Path) -> io::Result<Vec<String>> {
    let (orders, _) = mend_cases::labels::parse_examples(&std::fs::read(path)?);
    Ok(orders.into_iter().map(|order| order.text).collect())
}

pub fn write_complaints(config: &SynthConfig, out: &mut impl Write) -> io::Result<()> {
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let span_secs = config.days * 86_400;
    let problems = if config.orders.is_empty() { TEXTS.len() } else { config.orders.len() } as u32;
    // A customer has one ongoing problem at a time, so repeat complaints tell one story.
    let mut problem_of: Vec<u32> = (0..config.customers).map(|c| (c % u64::from(problems)) as u32).collect();
    // Customers of the last day or two of complaints, who may well complain again.
    let recent_len = (config.complaints / config.days.max(1) as u64 * 2).clamp(1, 50_000) as usize;
    let mut recent: VecDeque<u64> = VecDeque::with_capacity(recent_len);
    let mut arrived: u64 = 0;
    for i in 0..config.complaints {
        let arrival_due = config.activity == Activity::Arriving
            && arrived < config.customers
            && u128::from(i) * u128::from(config.customers) >= u128::from(arrived) * u128::from(config.complaints);
        let customer = if arrival_due {
            arrived += 1;
            arrived - 1
        } else if !recent.is_empty() && rng.random_bool(0.5) {
            recent[rng.random_range(0..recent.len())]
        } else {
            let customer = match config.activity {
                Activity::Arriving => {
                    let window = (config.customers / RETURN_WINDOW_DIVISOR).clamp(1, arrived.max(1));
                    arrived.saturating_sub(1 + rng.random_range(0..window))
                }
                // A fifth of the customers complain most: the repeat complainers repair is for.
                Activity::Uniform if rng.random_bool(0.5) => rng.random_range(0..config.customers.div_ceil(5)),
                Activity::Uniform => rng.random_range(0..config.customers),
            };
            // A new episode, now and then about a new problem.
            if rng.random_bool(0.3) {
                problem_of[customer as usize] = rng.random_range(0..problems);
            }
            customer
        };
        if recent.len() == recent_len {
            recent.pop_front();
        }
        recent.push_back(customer);
        let problem = problem_of[customer as usize] as usize;
        let channel_index = rng.random_range(0..4usize);
        let channel = CHANNELS[channel_index];
        let (category, text) = match config.orders.get(problem) {
            Some(order) => (None, order.clone()),
            None => {
                let (category, texts) = TEXTS[problem % TEXTS.len()];
                let text = texts
                    .choose(&mut rng)
                    .expect("non-empty")
                    .replace("{n}", &rng.random_range(2..6).to_string())
                    .replace("{fee}", &rng.random_range(5..300).to_string());
                (Some(category), text)
            }
        };
        let prefix = PREFIXES[channel_index].choose(&mut rng).expect("non-empty");
        let formal = rng.random_bool(0.04);
        let text = if formal {
            format!("{prefix}{text},再不解决我就去工信部投诉")
        } else {
            format!("{prefix}{text}")
        };

        let number = config.activity.key_number(customer);
        let phone = format!("13{:09}", number);
        let openid = format!("oMend{:023}", number);
        let member = format!("M{:09}", number);
        let with_phone = rng.random_bool(0.4);
        let customer_keys = match channel {
            "hotline" => json!({"phone": phone}),
            "wechat" => json!({"wechat_openid": openid, "phone": with_phone.then_some(&phone)}),
            "bot" => json!({"wechat_openid": openid, "phone": with_phone.then_some(&phone)}),
            _ => json!({"member_id": member, "phone": with_phone.then_some(&phone)}),
        };
        let mut customer_json = customer_keys;
        let surname = SURNAMES[(customer % SURNAMES.len() as u64) as usize];
        customer_json["name"] = json!(format!("{surname}{}", if customer % 2 == 0 { "先生" } else { "女士" }));

        let offset = (i as i64 * span_secs) / config.complaints.max(1) as i64 + rng.random_range(0..600);
        let received_at = (config.start + Duration::seconds(offset)).with_timezone(&chrono_tz::Asia::Shanghai);
        let record = json!({
            "channel": channel,
            "source_id": format!("{channel}-{i:08}"),
            "received_at": received_at.to_rfc3339(),
            "customer": customer_json,
            "text": text,
            "category": category.filter(|_| channel == "hotline" && rng.random_bool(0.3)),
            "satisfaction": rng.random_range(1..4),
            "formal_complaint": formal,
        });
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    /// The customer (in order of arrival) behind each generated complaint, found from whichever
    /// key the complaint carries.
    fn customers_in_order(activity: Activity, complaints: u64, customers: u64) -> Vec<u64> {
        let config = SynthConfig { seed: 3, activity, ..SynthConfig::new(complaints, customers) };
        let mut out = Vec::new();
        write_complaints(&config, &mut out).expect("writes to memory");
        let number_of: HashMap<u64, u64> = (0..customers).map(|c| (activity.key_number(c), c)).collect();
        String::from_utf8(out)
            .expect("utf-8")
            .lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).expect("json line");
                let keys = &record["customer"];
                let digits: String = ["phone", "wechat_openid", "member_id"]
                    .iter()
                    .find_map(|key| keys[*key].as_str())
                    .expect("a key")
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                let number = if keys["phone"].is_string() { &digits[2..] } else { &digits[..] };
                number_of[&number.parse::<u64>().expect("digits")]
            })
            .collect()
    }

    #[test]
    fn arriving_customers_come_back_only_for_a_while() {
        let (complaints, customers) = (20_000, 6_000);
        let order = customers_in_order(Activity::Arriving, complaints, customers);
        assert_eq!(order.iter().collect::<HashSet<_>>().len(), customers as usize, "every customer arrives");

        // Complaint i comes from a customer among the last arrivals (a tenth of all customers,
        // and those still telling the story of the last day or two), never from the first ones.
        let window = customers / RETURN_WINDOW_DIVISOR;
        let last_tenth = &order[(complaints * 9 / 10) as usize..];
        let arrived_by_then = customers * 9 / 10;
        let old = last_tenth.iter().filter(|&&c| c + 2 * window < arrived_by_then).count();
        assert!(old * 100 < last_tenth.len(), "{old} of {} complaints came from early customers", last_tenth.len());
    }

    #[test]
    fn uniform_customers_stay_active_throughout() {
        let (complaints, customers) = (20_000, 6_000);
        let order = customers_in_order(Activity::Uniform, complaints, customers);
        let first_tenth: HashSet<_> = order[..(complaints / 10) as usize].iter().collect();
        let last_tenth = &order[(complaints * 9 / 10) as usize..];
        let returning = last_tenth.iter().filter(|c| first_tenth.contains(c)).count();
        assert!(
            returning * 10 > last_tenth.len(),
            "only {returning} complaints of the last tenth came from early customers"
        );
    }
}
