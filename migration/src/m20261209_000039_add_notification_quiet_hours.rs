//! Notification quiet hours (issue 20): a daily window, in the practice's time zone, in which
//! no message goes to a patient.
//!
//! `notification_settings.quiet_start_minute` and `quiet_end_minute`: the window's start and
//! end as minutes of the day (0-1439), both null when the clinic has no quiet hours.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum NotificationSettings {
    Table,
    QuietStartMinute,
    QuietEndMinute,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            NotificationSettings::QuietStartMinute,
            NotificationSettings::QuietEndMinute,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(NotificationSettings::Table)
                        .add_column(ColumnDef::new(column).integer())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            NotificationSettings::QuietStartMinute,
            NotificationSettings::QuietEndMinute,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(NotificationSettings::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
