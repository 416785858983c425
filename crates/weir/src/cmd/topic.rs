//! `weir topic create|list|describe|alter|delete`: topic administration over
//! the Kafka protocol (CreateTopics, Metadata, ListOffsets, DescribeConfigs,
//! AlterConfigs, DeleteTopics) with rdkafka's AdminClient, so it works against
//! any Kafka broker. No broker internals are used here.

use crate::client::{self, describe_code, ClientArgs};
use anyhow::{bail, Context};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::MetadataTopic;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct TopicArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: TopicCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TopicCommand {
    /// Create a topic
    Create {
        name: String,
        /// Partition count [default: the broker's num.partitions]
        #[arg(long, short = 'p')]
        partitions: Option<i32>,
        /// Replication factor [default: the broker's default]
        #[arg(long, short = 'r')]
        replication_factor: Option<i32>,
        /// Topic config, e.g. --config retention.ms=60000 (repeatable)
        #[arg(long, short = 'c', value_name = "KEY=VALUE", value_parser = client::parse_key_value)]
        config: Vec<(String, String)>,
    },
    /// List topic names, one per line
    List,
    /// Show partitions, leaders, replicas, offsets and configs of a topic
    Describe { name: String },
    /// Set or remove topic configs, keeping the other explicit configs
    Alter {
        name: String,
        /// Config to set (repeatable)
        #[arg(long, short = 'c', value_name = "KEY=VALUE", value_parser = client::parse_key_value)]
        config: Vec<(String, String)>,
        /// Config to remove, reverting it to the broker default (repeatable)
        #[arg(long, value_name = "KEY")]
        delete_config: Vec<String>,
    },
    /// Delete a topic and all its records
    Delete { name: String },
}

pub fn run(args: &TopicArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let admin = Admin::new(&args.client)?;
    runtime.block_on(async {
        match &args.command {
            TopicCommand::Create {
                name,
                partitions,
                replication_factor,
                config,
            } => {
                admin
                    .create(
                        name,
                        partitions.unwrap_or(-1),
                        replication_factor.unwrap_or(-1),
                        config,
                    )
                    .await
            }
            TopicCommand::List => admin.list(),
            TopicCommand::Describe { name } => admin.describe(name).await,
            TopicCommand::Alter {
                name,
                config,
                delete_config,
            } => admin.alter(name, config, delete_config).await,
            TopicCommand::Delete { name } => admin.delete(name).await,
        }
    })
}

struct Admin<'a> {
    args: &'a ClientArgs,
    client: AdminClient<DefaultClientContext>,
    options: AdminOptions,
}

impl<'a> Admin<'a> {
    fn new(args: &'a ClientArgs) -> anyhow::Result<Admin<'a>> {
        // The admin client is a producer inside librdkafka, which would ask
        // the broker to auto-create any topic it describes.
        let config = args.config(&[("allow.auto.create.topics", "false")]);
        let client = config
            .create()
            .map_err(|err| client::kafka_error("cannot create admin client", &err))?;
        let options = AdminOptions::new()
            .request_timeout(Some(args.timeout()))
            .operation_timeout(Some(args.timeout()));
        Ok(Admin {
            args,
            client,
            options,
        })
    }

    async fn create(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        config: &[(String, String)],
    ) -> anyhow::Result<()> {
        let mut topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(replication_factor),
        );
        for (key, value) in config {
            topic = topic.set(key, value);
        }
        let results = self
            .client
            .create_topics([&topic], &self.options)
            .await
            .map_err(|err| client::kafka_error("create topic", &err))?;
        topic_results("create topic", results)?;
        println!("created topic {name}");
        Ok(())
    }

    async fn delete(&self, name: &str) -> anyhow::Result<()> {
        let results = self
            .client
            .delete_topics(&[name], &self.options)
            .await
            .map_err(|err| client::kafka_error("delete topic", &err))?;
        topic_results("delete topic", results)?;
        println!("deleted topic {name}");
        Ok(())
    }

    fn list(&self) -> anyhow::Result<()> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, self.args.timeout())
            .map_err(|err| client::kafka_error("list topics", &err))?;
        let mut names: Vec<&str> = metadata.topics().iter().map(MetadataTopic::name).collect();
        names.sort_unstable();
        for name in names {
            println!("{name}");
        }
        Ok(())
    }

    async fn describe(&self, name: &str) -> anyhow::Result<()> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(Some(name), self.args.timeout())
            .map_err(|err| client::kafka_error("describe topic", &err))?;
        let topic = find_topic(metadata.topics(), name)?;
        let offsets = self.watermarks(topic)?;
        print_partitions(topic, &offsets);
        match self.configs(name).await {
            Ok(configs) => print_configs(&configs),
            Err(err) => eprintln!("configs unavailable: {err:#}"),
        }
        Ok(())
    }

    /// (earliest, latest) offset of each partition, in metadata order.
    fn watermarks(&self, topic: &MetadataTopic) -> anyhow::Result<Vec<(i64, i64)>> {
        let consumer: BaseConsumer = self
            .args
            .config(&[])
            .create()
            .map_err(|err| client::kafka_error("cannot create consumer", &err))?;
        let mut offsets = Vec::with_capacity(topic.partitions().len());
        for partition in topic.partitions() {
            let marks = consumer
                .fetch_watermarks(topic.name(), partition.id(), self.args.timeout())
                .map_err(|err| {
                    client::kafka_error(&format!("offsets of partition {}", partition.id()), &err)
                })?;
            offsets.push(marks);
        }
        Ok(offsets)
    }

    /// Every config of the topic: (name, value, set explicitly on the topic).
    async fn configs(&self, name: &str) -> anyhow::Result<Vec<(String, Option<String>, bool)>> {
        let resources = self
            .client
            .describe_configs([&ResourceSpecifier::Topic(name)], &self.options)
            .await
            .map_err(|err| client::kafka_error("describe configs", &err))?;
        let Some(result) = resources.into_iter().next() else {
            bail!("describe configs: the broker returned no result for {name}");
        };
        let resource =
            result.map_err(|code| anyhow::anyhow!("describe configs: {}", describe_code(code)))?;
        let mut entries: Vec<_> = resource
            .entries
            .into_iter()
            .map(|entry| {
                (
                    entry.name,
                    entry.value,
                    entry.source == ConfigSource::DynamicTopic,
                )
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// AlterConfigs replaces a topic's whole set of explicit configs, so the
    /// current explicit ones are read first and sent back with the changes.
    /// (IncrementalAlterConfigs would avoid the read, but rdkafka does not
    /// expose it.) A concurrent alter between the two calls can be lost.
    async fn alter(
        &self,
        name: &str,
        set: &[(String, String)],
        delete: &[String],
    ) -> anyhow::Result<()> {
        if set.is_empty() && delete.is_empty() {
            bail!("nothing to alter: give --config KEY=VALUE or --delete-config KEY");
        }
        let mut explicit: BTreeMap<String, String> = BTreeMap::new();
        for (key, value, is_explicit) in self.configs(name).await? {
            if let (true, Some(value)) = (is_explicit, value) {
                explicit.insert(key, value);
            }
        }
        for key in delete {
            if explicit.remove(key).is_none() {
                eprintln!("note: {key} was not set on {name}");
            }
        }
        explicit.extend(set.iter().cloned());
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for (key, value) in &explicit {
            alter = alter.set(key, value);
        }
        let results = self
            .client
            .alter_configs([&alter], &self.options)
            .await
            .map_err(|err| client::kafka_error("alter configs", &err))?;
        for result in results {
            result
                .map_err(|(_, code)| anyhow::anyhow!("alter configs: {}", describe_code(code)))?;
        }
        println!("altered topic {name}");
        Ok(())
    }
}

fn topic_results(doing: &str, results: Vec<rdkafka::admin::TopicResult>) -> anyhow::Result<()> {
    for result in results {
        if let Err((topic, code)) = result {
            bail!("{doing} {topic}: {}", describe_code(code));
        }
    }
    Ok(())
}

fn find_topic<'m>(topics: &'m [MetadataTopic], name: &str) -> anyhow::Result<&'m MetadataTopic> {
    let Some(topic) = topics.iter().find(|t| t.name() == name) else {
        bail!(
            "describe topic {name}: {}",
            describe_code(RDKafkaErrorCode::UnknownTopicOrPartition)
        );
    };
    if let Some(err) = topic.error() {
        bail!("describe topic {name}: {}", describe_code(err.into()));
    }
    Ok(topic)
}

fn print_partitions(topic: &MetadataTopic, offsets: &[(i64, i64)]) {
    let replication = topic.partitions().first().map_or(0, |p| p.replicas().len());
    println!(
        "topic {}  partitions {}  replication factor {replication}",
        topic.name(),
        topic.partitions().len()
    );
    println!(
        "{:>9} {:>6} {:>10} {:>10} {:>12} {:>12}",
        "partition", "leader", "replicas", "isr", "earliest", "latest"
    );
    for (partition, (earliest, latest)) in topic.partitions().iter().zip(offsets) {
        println!(
            "{:>9} {:>6} {:>10} {:>10} {:>12} {:>12}",
            partition.id(),
            partition.leader(),
            join_ids(partition.replicas()),
            join_ids(partition.isr()),
            earliest,
            latest
        );
    }
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn print_configs(configs: &[(String, Option<String>, bool)]) {
    println!("configs:");
    for (name, value, explicit) in configs {
        let value = value.as_deref().unwrap_or("(null)");
        let marker = if *explicit { "  (set on topic)" } else { "" };
        println!("  {name}={value}{marker}");
    }
}
