//! The clinic's own templates, per trigger and channel (owners and admins): listed beside the
//! defaults, saved only when [`validate`] passes (nothing is stored otherwise), removed to go
//! back to the default, and previewed (saved or draft) with sample data. The sender asks
//! [`NotificationService::template_for`] for what to render.

use super::templates::{SampleData, TemplateSources, default_sources, render_with, validate};
use super::{Channel, ClinicTemplate, NotificationService, Rendered, RuleKey, Trigger};
use crate::Result;
use crate::error::Error;
use crate::ids::TenantId;
use crate::tenancy::TenantContext;

/// One trigger and channel as the template editor shows it: the clinic's own templates, if
/// any, and the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateView {
    /// What sends the message.
    pub trigger: Trigger,
    /// How it travels.
    pub channel: Channel,
    /// The clinic's own templates (none: the default is sent).
    pub custom: Option<ClinicTemplate>,
    /// The built-in templates.
    pub default: TemplateSources,
}

impl TemplateView {
    fn of(trigger: Trigger, channel: Channel, custom: Option<ClinicTemplate>) -> Self {
        Self {
            trigger,
            channel,
            custom,
            default: default_sources(trigger, channel),
        }
    }

    /// What is sent: the clinic's templates, else the default.
    pub fn current(&self) -> &TemplateSources {
        self.custom
            .as_ref()
            .map_or(&self.default, |custom| &custom.sources)
    }
}

impl NotificationService {
    /// Every trigger × channel with the clinic's templates and the defaults (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn templates(&self, ctx: &TenantContext) -> Result<Vec<TemplateView>> {
        ctx.require_manager()?;
        let mut saved = self.repo.templates(ctx.tenant_id()).await?;
        let mut views = Vec::new();
        for trigger in Trigger::ALL {
            for channel in Channel::ALL {
                let custom = saved
                    .iter()
                    .position(|t| t.trigger == trigger && t.channel == channel)
                    .map(|i| saved.swap_remove(i));
                views.push(TemplateView::of(trigger, channel, custom));
            }
        }
        Ok(views)
    }

    /// Saves the clinic's templates for `trigger` on `channel` (owners and admins), replacing
    /// earlier ones. Nothing is stored unless every part is valid.
    ///
    /// # Errors
    /// `Forbidden` for anyone else; `Validation` naming each wrong part (`subject`, `text`,
    /// `html`) and its line; storage failures.
    pub async fn save_template(
        &self,
        ctx: &TenantContext,
        trigger: Trigger,
        channel: Channel,
        sources: TemplateSources,
    ) -> Result<TemplateView> {
        ctx.require_manager()?;
        validate(trigger, channel, &sources).map_err(Error::Validation)?;
        let template = ClinicTemplate {
            trigger,
            channel,
            sources,
            updated_by: ctx.user_id(),
            updated_at: chrono::Utc::now(),
        };
        self.repo.save_template(ctx.tenant_id(), &template).await?;
        Ok(TemplateView::of(trigger, channel, Some(template)))
    }

    /// Removes the clinic's templates for `trigger` on `channel`: the default is sent again
    /// (owners and admins). Removing what is not there is not an error.
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn reset_template(
        &self,
        ctx: &TenantContext,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<TemplateView> {
        ctx.require_manager()?;
        self.repo
            .delete_template(ctx.tenant_id(), trigger, channel)
            .await?;
        Ok(TemplateView::of(trigger, channel, None))
    }

    /// The message of `rule` with sample data (owners and admins): from `draft` when given
    /// (checked like a save, nothing stored), else from the clinic's templates or the default.
    ///
    /// # Errors
    /// `Forbidden` for anyone else; `Validation` for a wrong draft; storage failures.
    pub async fn preview(
        &self,
        ctx: &TenantContext,
        rule: RuleKey,
        draft: Option<TemplateSources>,
    ) -> Result<Rendered> {
        ctx.require_manager()?;
        let sources = match draft {
            Some(draft) => {
                validate(rule.trigger, rule.channel, &draft).map_err(Error::Validation)?;
                draft
            }
            None => {
                self.template_for(ctx.tenant_id(), rule.trigger, rule.channel)
                    .await?
            }
        };
        render_with(&sources, rule, &SampleData::sample())
    }

    /// What the sender renders for `trigger` on `channel`: the clinic's templates, else the
    /// default.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn template_for(
        &self,
        tenant: TenantId,
        trigger: Trigger,
        channel: Channel,
    ) -> Result<TemplateSources> {
        Ok(self
            .repo
            .template(tenant, trigger, channel)
            .await?
            .map_or_else(|| default_sources(trigger, channel), |t| t.sources))
    }
}
